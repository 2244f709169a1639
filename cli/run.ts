// `runcell run FILE`: runs code on a fresh kernel over the kernel websocket (Jupyter messaging,
// legacy JSON frames) so output is printed as it is produced; the kernel is deleted afterwards.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { RunCellError, request } from '../sdk/http.js';
import { executeRequest } from '../shared/jupyter.js';

export interface RunOutcome {
  status: 'ok' | 'error' | 'timeout';
}

interface Msg {
  channel: string;
  header: { msg_type: string };
  parent_header: { msg_id?: string };
  content: Record<string, unknown>;
}

export async function runLive(
  server: string,
  token: string | undefined,
  code: string,
  o: { kernel?: string; timeoutS?: number; json: boolean },
): Promise<RunOutcome & { stdout: string; stderr: string; outputs: unknown[] }> {
  const http = { url: server, token };
  const k = await request<{ id: string }>(http, 'POST', '/api/kernels', o.kernel ? { name: o.kernel } : {});
  const id = String(k.id);
  const session = randomUUID();
  const url = new URL(`/api/kernels/${id}/channels?session_id=${session}`, server);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(url, { headers: token ? { authorization: `token ${token}` } : {} });
  const out = { status: 'ok' as RunOutcome['status'], stdout: '', stderr: '', outputs: [] as unknown[] };
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const msgId = randomUUID();
    await new Promise<void>((resolve, reject) => {
      let reply = false;
      let idle = false;
      const timer = o.timeoutS
        ? setTimeout(() => {
            out.status = 'timeout';
            resolve();
          }, o.timeoutS * 1000)
        : undefined;
      ws.on('message', (data: WebSocket.RawData) => {
        const m = JSON.parse(data.toString()) as Msg;
        if (m.parent_header?.msg_id !== msgId) return;
        const c = m.content;
        const t = m.header.msg_type;
        if (t === 'stream') {
          const text = String(c.text ?? '');
          if (c.name === 'stderr') {
            out.stderr += text;
            if (!o.json) process.stderr.write(text);
          } else {
            out.stdout += text;
            if (!o.json) process.stdout.write(text);
          }
        } else if (t === 'execute_result' || t === 'display_data') {
          out.outputs.push({ output_type: t, data: c.data });
          const plain = (c.data as Record<string, unknown> | undefined)?.['text/plain'];
          if (!o.json && typeof plain === 'string') process.stdout.write(`${plain}\n`);
        } else if (t === 'error') {
          out.outputs.push({ output_type: 'error', ename: c.ename, evalue: c.evalue });
          if (!o.json) process.stderr.write(`${((c.traceback as string[]) ?? []).join('\n')}\n`);
        } else if (t === 'execute_reply') {
          reply = true;
          if (c.status !== 'ok') out.status = 'error';
        } else if (t === 'status' && c.execution_state === 'idle') idle = true;
        if (reply && idle) {
          clearTimeout(timer);
          resolve();
        }
      });
      ws.once('close', () =>
        reject(new RunCellError('RUNCELL_ERR_CONNECTION', 'the connection to the kernel closed', 0)),
      );
      ws.send(JSON.stringify(executeRequest(code, session, { msgId })));
    });
  } finally {
    ws.removeAllListeners('close');
    ws.close();
    await request(http, 'DELETE', `/api/kernels/${id}`).catch(() => undefined);
  }
  return out;
}
