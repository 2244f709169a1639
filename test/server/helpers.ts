// Shared set-up for server tests: a real server on 127.0.0.1:0 over a real kernel manager (small pool),
// each test file on its own uid block and runtime root, and a raw websocket client that decodes with
// @jupyterlab/services' own serializer (the ground truth for what browsers accept).

import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deserialize, serialize } from '@jupyterlab/services/lib/kernel/serialize.js';
import { pino } from 'pino';
import WebSocket from 'ws';
import { KernelManager } from '../../kernel-manager/index.js';
import { type App, buildApp } from '../../server/app.js';
import {
  jobLimits,
  kernelManagerConfig,
  loadConfig,
  type ServerConfig,
  storeOptions,
} from '../../server/config.js';
import { createJobs } from '../../server/jobs/index.js';
import { openStore, type Store } from '../../server/store/db.js';
import { executeRequest } from '../../shared/jupyter.js';
import { SUITE_KERNELS } from '../suite-kernels.js';

// biome-ignore lint/suspicious/noExplicitAny: messages and bodies in tests are free-form JSON
export type Json = any;

export const TOKEN = 'test-token-0123456789abcdef';

export interface TestServer extends App {
  manager: KernelManager;
  store: Store | undefined;
  config: ServerConfig;
  base: string;
  wsBase: string;
  stop(): Promise<void>;
}

/** uid block 65000 + 100*slot; pick a distinct slot per test file. */
export async function startServer(
  slot: number,
  over: Partial<ServerConfig> = {},
  /** store: true for a fresh embedded database; or a Store the caller opened (and closes). */
  opts: { store?: boolean | Store; jobs?: boolean } = {},
): Promise<TestServer> {
  const config = loadConfig(
    {},
    {
      port: 0,
      logLevel: 'silent',
      poolSize: 1,
      maxKernels: 8,
      ...SUITE_KERNELS,
      tokens: [TOKEN],
      sandboxUidRange: [65_000 + slot * 100, 65_000 + slot * 100 + 99],
      sandboxRuntimeRoot: `/run/rc-s${slot}`,
      ...over,
    },
  );
  const logger = pino({ level: process.env.RUNCELL_TEST_LOG ?? 'silent' });
  const manager = await KernelManager.create(kernelManagerConfig(config), logger);
  // An embedded database in a fresh directory, as `npm start` without DATABASE_URL would use.
  const given = typeof opts.store === 'object' ? opts.store : undefined;
  const dataDir = opts.store === true ? mkdtempSync(join(tmpdir(), 'runcell-srv-')) : undefined;
  const store = given
    ? given
    : dataDir
      ? await openStore(storeOptions({ ...config, dataDir, databaseUrl: '', recordsFlushMs: 20 }, logger))
      : undefined;
  // The jobs service on the same store, as main.ts wires it (needs a store).
  const jobs =
    opts.jobs && store
      ? await createJobs({
          sql: store.sql,
          events: store.events,
          files: store.files,
          uploads: store.uploads,
          manager,
          log: logger,
          instance: `test-${slot}`,
          limits: jobLimits(config),
        })
      : undefined;
  const server = await buildApp({
    config,
    manager,
    logger,
    ...(store ? { store } : {}),
    ...(jobs ? { jobs } : {}),
  });
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  if (config.poolSize > 0) await waitFor(() => manager.stats().pooled >= 1, 60_000, 'the warm pool');
  return {
    ...server,
    manager,
    store,
    config,
    base: `http://127.0.0.1:${port}`,
    wsBase: `ws://127.0.0.1:${port}`,
    async stop() {
      await server.close();
      await jobs?.close({ graceMs: 0 });
      await manager.close();
      if (!given) await store?.close();
      if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function waitFor<T>(fn: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = fn();
      if (v) return resolve(v);
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 10);
    };
    tick();
  });
}

export const auth = { authorization: `token ${TOKEN}` };

export async function api(
  s: TestServer,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = auth,
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(s.base + path, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

export async function newKernel(s: TestServer): Promise<string> {
  const r = await api(s, 'POST', '/api/kernels', {});
  if (r.status !== 201) throw new Error(`POST /api/kernels: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id as string;
}

export interface Msg {
  channel: string;
  header: Json;
  parent_header: Json;
  metadata: Json;
  content: Json;
  buffers?: unknown[];
}

export function makeMsg(type: string, content: object, session: string, channel = 'shell'): Msg {
  return {
    channel,
    header: {
      msg_id: randomUUID(),
      msg_type: type,
      session,
      username: 'test',
      version: '5.3',
      date: new Date().toISOString(),
    },
    parent_header: {},
    metadata: {},
    content,
    buffers: [],
  };
}

export const executeMsg = (code: string, session: string): Msg => ({
  ...executeRequest(code, session, { allowStdin: true, username: 'test' }),
  buffers: [],
});

/** A raw kernel websocket client that records every message it gets. */
export class RawClient {
  readonly messages: Msg[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #waiters: (() => void)[] = [];

  private constructor(
    readonly ws: WebSocket,
    readonly session: string,
  ) {
    ws.binaryType = 'arraybuffer';
    ws.on('message', (data: ArrayBuffer | string, isBinary: boolean) => {
      const raw = isBinary ? data : data.toString();
      this.messages.push(deserialize(raw as ArrayBuffer, ws.protocol) as unknown as Msg);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of this.#waiters.splice(0)) w();
      }),
    );
  }

  static async open(
    s: TestServer,
    kernelId: string,
    opts: { session?: string; protocol?: string; headers?: Record<string, string> } = {},
  ): Promise<RawClient> {
    const session = opts.session ?? randomUUID();
    const url = `${s.wsBase}/api/kernels/${kernelId}/channels?session_id=${session}`;
    const ws = new WebSocket(url, opts.protocol ? [opts.protocol] : [], { headers: opts.headers ?? auth });
    const c = new RawClient(ws, session);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    return c;
  }

  send(m: Msg): void {
    this.ws.send(serialize(m as Json, this.ws.protocol));
  }

  /** Resolves with the first recorded message (from `from` on) matching `pred`. */
  async next(pred: (m: Msg) => boolean, timeoutMs = 20_000, from = 0): Promise<Msg> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.messages.slice(from).find(pred);
      if (m) return m;
      if (Date.now() > deadline || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(
          `no matching message; got ${JSON.stringify(this.messages.map((x) => [x.header.msg_type, x.content.text ?? x.content.execution_state]))}`,
        );
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Sends code and waits for its execute_reply and idle status; returns the messages of that request. */
  async run(
    code: string,
    timeoutMs = 20_000,
  ): Promise<{ reply: Msg; stdout: string; stderr: string; all: Msg[] }> {
    const m = executeMsg(code, this.session);
    const from = this.messages.length;
    this.send(m);
    const mine = (x: Msg) => x.parent_header?.msg_id === m.header.msg_id;
    const reply = await this.next((x) => mine(x) && x.header.msg_type === 'execute_reply', timeoutMs, from);
    await this.next(
      (x) => mine(x) && x.header.msg_type === 'status' && x.content.execution_state === 'idle',
      timeoutMs,
      from,
    );
    const all = this.messages.slice(from).filter(mine);
    const text = (name: string) =>
      all
        .filter((x) => x.header.msg_type === 'stream' && x.content.name === name)
        .map((x) => x.content.text)
        .join('');
    return { reply, stdout: text('stdout'), stderr: text('stderr'), all };
  }

  close(): void {
    this.ws.close();
  }
}
