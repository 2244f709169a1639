// One new visitor as a browser's client makes it: fresh connections (no keep-alive shared with other
// visitors), POST /api/kernels, the channels websocket, kernel_info, one execute until its first output,
// then close and DELETE. And one-shot POST /api/execute. Used by bench/arrival.ts for runcell and for
// Jupyter Server alike (JSON websocket framing, which both speak).
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import WebSocket from 'ws';
import { clientMessage, executeRequest } from '../../shared/jupyter.js';
import type { Target } from './perf.js';

/** An HTTP request on a connection of its own (agent: false), as a new visitor's browser opens one. */
export function httpJson(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(
      url,
      {
        method,
        agent: false,
        headers: { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(data);
  });
}

export interface VisitResult {
  /** ms from the first request to the first output of the cell. */
  firstOutputMs: number;
  parts: { create: number; websocket: number; kernelInfo: number; output: number };
  /** The DELETE (not counted in firstOutputMs; awaited in the background). */
  deleted: Promise<void>;
}

interface Wire {
  channel?: string;
  header: { msg_type: string };
  parent_header: { msg_id?: string };
  content: { data?: Record<string, unknown> };
}

const OUTPUT = new Set(['stream', 'display_data', 'execute_result', 'error']);

/**
 * A whole visit. `expect` is the output type the cell must produce (a plot: display_data with a PNG);
 * anything else, a non-2xx answer or `timeoutMs` passing, is an error (the promise rejects).
 */
export async function visit(
  t: Target,
  code: string,
  expect: 'stream' | 'display_data',
  timeoutMs: number,
): Promise<VisitResult> {
  const t0 = performance.now();
  const deadline = t0 + timeoutMs;
  const left = () => Math.max(1, deadline - performance.now());
  const created = await httpJson('POST', `${t.base}/api/kernels`, t.headers, { name: 'python3' }, left());
  if (created.status !== 201)
    throw new Error(`POST /api/kernels: ${created.status} ${JSON.stringify(created.json)}`);
  const id = (created.json as { id: string }).id;
  const tCreated = performance.now();
  const del = () =>
    httpJson('DELETE', `${t.base}/api/kernels/${id}`, t.headers, undefined, 60_000).then((r) => {
      if (r.status !== 204) throw new Error(`DELETE: ${r.status}`);
    });
  const session = randomUUID();
  const ws = new WebSocket(`${t.wsBase}/api/kernels/${id}/channels?session_id=${session}`, {
    headers: t.headers,
    perMessageDeflate: false,
  });
  const timings: { open?: number; info?: number; output?: number } = {};
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no first output within ${timeoutMs} ms`)), left());
      const infoId = randomUUID();
      const execId = randomUUID();
      ws.once('open', () => {
        timings.open = performance.now();
        ws.send(JSON.stringify(clientMessage('kernel_info_request', {}, session, { msgId: infoId })));
      });
      ws.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      ws.once('unexpected-response', (_q, res) => {
        clearTimeout(timer);
        reject(new Error(`websocket ${res.statusCode}`));
      });
      ws.on('message', (data: Buffer, binary: boolean) => {
        if (binary) return;
        const m = JSON.parse(data.toString()) as Wire;
        const parent = m.parent_header.msg_id;
        if (parent === infoId && m.header.msg_type === 'kernel_info_reply' && timings.info === undefined) {
          timings.info = performance.now();
          ws.send(JSON.stringify(executeRequest(code, session, { msgId: execId })));
          return;
        }
        if (parent !== execId || !OUTPUT.has(m.header.msg_type)) return;
        clearTimeout(timer);
        const type = m.header.msg_type;
        if (type !== expect || (expect === 'display_data' && !m.content.data?.['image/png'])) {
          reject(new Error(`first output was ${type}, not ${expect}: ${data.toString().slice(0, 300)}`));
          return;
        }
        timings.output = performance.now();
        resolve();
      });
    });
  } catch (e) {
    ws.terminate();
    await del().catch(() => {});
    throw e;
  }
  ws.close();
  const { open = 0, info = 0, output = 0 } = timings;
  return {
    firstOutputMs: output - t0,
    parts: {
      create: tCreated - t0,
      websocket: open - tCreated,
      kernelInfo: info - open,
      output: output - info,
    },
    deleted: del(),
  };
}

/** POST /api/execute: ms until the answer, which must be status ok with the expected stdout. */
export async function oneShot(t: Target, code: string, stdout: string, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  const r = await httpJson('POST', `${t.base}/api/execute`, t.headers, { code }, timeoutMs);
  const j = r.json as { status?: string; stdout?: string };
  if (r.status !== 200 || j.status !== 'ok' || j.stdout !== stdout) {
    throw new Error(`POST /api/execute: ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
  }
  return performance.now() - t0;
}
