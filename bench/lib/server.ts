// Shared set-up for server benchmarks: a real server (127.0.0.1, port 0) over a real kernel manager,
// and minimal websocket and long-poll clients that wait for execute_reply and idle like a browser does.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import WebSocket from 'ws';
import { KernelManager } from '../../kernel-manager/index.js';
import { buildApp } from '../../server/app.js';
import { kernelManagerConfig, loadConfig, type ServerConfig, storeOptions } from '../../server/config.js';
import { openStore } from '../../server/store/db.js';
import { executeRequest } from '../../shared/jupyter.js';

export const TOKEN = 'bench-token-0123456789abcdef';
export const headers = { authorization: `token ${TOKEN}`, 'content-type': 'application/json' };

/** `store`: none, an embedded PGlite in a temp dir, or a Postgres URL. */
export async function startServer(over: Partial<ServerConfig> = {}, store?: 'pglite' | { url: string }) {
  const config = loadConfig(
    {},
    {
      port: 0,
      logLevel: 'silent',
      tokens: [TOKEN],
      sandboxUidRange: [66_000, 66_999],
      sandboxRuntimeRoot: '/run/rc-bench',
      ...over,
    },
  );
  const logger = pino({ level: 'silent' });
  const manager = await KernelManager.create(kernelManagerConfig(config), logger);
  const dataDir = store === 'pglite' ? mkdtempSync(join(tmpdir(), 'runcell-bench-')) : undefined;
  const db = store
    ? await openStore(
        storeOptions(
          { ...config, dataDir: dataDir ?? '.', databaseUrl: typeof store === 'object' ? store.url : '' },
          logger,
        ),
      )
    : undefined;
  const server = await buildApp({ config, manager, logger, ...(db ? { store: db } : {}) });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  return {
    manager,
    server,
    base: `http://127.0.0.1:${port}`,
    wsBase: `ws://127.0.0.1:${port}`,
    store: db,
    async stop() {
      await server.close();
      await manager.close();
      await db?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function waitPool(manager: KernelManager, n: number): Promise<void> {
  while (manager.stats().pooled < n) await new Promise((r) => setTimeout(r, 20));
}

const execute = (code: string, session: string) => executeRequest(code, session, { username: 'b' });

interface Wire {
  channel: string;
  header: { msg_type: string };
  parent_header: { msg_id?: string };
  content: { execution_state?: string };
}

/** A websocket client (legacy JSON framing) that runs one execution at a time. */
export class WsClient {
  readonly session = randomUUID();
  #waiting: { id: string; reply: boolean; idle: boolean; done: () => void } | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(data.toString()) as Wire;
      const w = this.#waiting;
      if (!w || m.parent_header.msg_id !== w.id) return;
      if (m.header.msg_type === 'execute_reply') w.reply = true;
      if (m.header.msg_type === 'status' && m.content.execution_state === 'idle') w.idle = true;
      if (w.reply && w.idle) {
        this.#waiting = undefined;
        w.done();
      }
    });
  }
  static async open(wsBase: string, kernelId: string): Promise<WsClient> {
    const ws = new WebSocket(`${wsBase}/api/kernels/${kernelId}/channels?session_id=${randomUUID()}`, {
      headers: { authorization: `token ${TOKEN}` },
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new WsClient(ws);
  }
  run(code: string): Promise<void> {
    const m = execute(code, this.session);
    return new Promise((done) => {
      this.#waiting = { id: m.header.msg_id, reply: false, idle: false, done };
      this.ws.send(JSON.stringify(m));
    });
  }
  /** Sends kernel_info_request and resolves on its reply. */
  info(): Promise<void> {
    const m = {
      ...execute('', this.session),
      header: { ...execute('', this.session).header, msg_type: 'kernel_info_request' },
      content: {},
    };
    return new Promise((done) => {
      const on = (data: WebSocket.RawData) => {
        const r = JSON.parse(data.toString()) as Wire;
        if (r.header.msg_type === 'kernel_info_reply' && r.parent_header.msg_id === m.header.msg_id) {
          this.ws.off('message', on);
          done();
        }
      };
      this.ws.on('message', on);
      this.ws.send(JSON.stringify(m));
    });
  }
  close(): void {
    this.ws.close();
  }
}

/** A long-poll client that runs one execution at a time. */
export class PollClient {
  readonly session = randomUUID();
  cursor = 0;
  constructor(
    readonly base: string,
    readonly kernelId: string,
  ) {}
  async init(): Promise<void> {
    const r = await fetch(`${this.url()}&timeout=0`, { headers });
    this.cursor = ((await r.json()) as { next: number }).next;
  }
  url(): string {
    return `${this.base}/api/kernels/${this.kernelId}/messages?session_id=${this.session}`;
  }
  async run(code: string): Promise<void> {
    const m = execute(code, this.session);
    await fetch(this.url(), { method: 'POST', headers, body: JSON.stringify(m) });
    let reply = false;
    let idle = false;
    while (!(reply && idle)) {
      const r = await fetch(`${this.url()}&after=${this.cursor}&timeout=25`, { headers });
      const body = (await r.json()) as { messages: Wire[]; next: number };
      this.cursor = body.next;
      for (const x of body.messages) {
        if (x.parent_header.msg_id !== m.header.msg_id) continue;
        if (x.header.msg_type === 'execute_reply') reply = true;
        if (x.header.msg_type === 'status' && x.content.execution_state === 'idle') idle = true;
      }
    }
  }
}

export async function newKernel(base: string): Promise<string> {
  const r = await fetch(`${base}/api/kernels`, { method: 'POST', headers, body: '{}' });
  return ((await r.json()) as { id: string }).id;
}
