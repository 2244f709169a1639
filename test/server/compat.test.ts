// Compatibility: the unmodified @jupyterlab/services client (KernelManager, KernelConnection,
// SessionManager, KernelSpecManager) against a running runcell server with real kernels, under both
// websocket protocols (v1.kernel.websocket.jupyter.org, and the legacy framing when none is offered).
import {
  type Kernel,
  KernelManager,
  type KernelMessage,
  KernelSpecManager,
  ServerConnection,
  SessionManager,
} from '@jupyterlab/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { api, type Json, startServer, type TestServer, TOKEN } from './helpers.js';

let s: TestServer;

beforeAll(async () => {
  s = await startServer(2, { poolSize: 2 });
});
afterAll(async () => {
  await s?.stop();
});

/** A WebSocket that never offers subprotocols: what a pre-v1 client does. */
class LegacyWebSocket extends WebSocket {
  constructor(url: string, _protocols?: string | string[]) {
    super(url);
  }
}

function settings(legacy: boolean): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: `${s.base}/`,
    wsUrl: `${s.wsBase}/`,
    token: TOKEN,
    appendToken: true,
    fetch,
    Request,
    Headers,
    WebSocket: (legacy ? LegacyWebSocket : WebSocket) as unknown as typeof globalThis.WebSocket,
  });
}

async function run(
  kc: Kernel.IKernelConnection,
  code: string,
  onStdin?: (msg: KernelMessage.IStdinMessage) => void,
): Promise<{ reply: KernelMessage.IExecuteReplyMsg; iopub: KernelMessage.IIOPubMessage[]; stdout: string }> {
  const future = kc.requestExecute({ code, allow_stdin: onStdin !== undefined });
  const iopub: KernelMessage.IIOPubMessage[] = [];
  future.onIOPub = (m) => {
    iopub.push(m);
  };
  if (onStdin) future.onStdin = onStdin;
  const reply = (await future.done) as KernelMessage.IExecuteReplyMsg;
  const stdout = iopub
    .filter((m) => m.header.msg_type === 'stream' && (m.content as Json).name === 'stdout')
    .map((m) => (m.content as Json).text)
    .join('');
  return { reply, iopub, stdout };
}

describe.each([
  ['v1.kernel.websocket.jupyter.org', false],
  ['legacy framing', true],
])('@jupyterlab/services over %s', (_name, legacy) => {
  it('lists kernelspecs', async () => {
    const specs = new KernelSpecManager({ serverSettings: settings(legacy) });
    await specs.ready;
    expect(specs.specs?.default).toBe('python3');
    expect(specs.specs?.kernelspecs.python3?.language).toBe('python');
    specs.dispose();
  });

  it('runs a kernel through its whole life', async () => {
    const serverSettings = settings(legacy);
    const km = new KernelManager({ serverSettings });
    await km.ready;
    const kc = km.connectTo({ model: await (async () => (await km.startNew({ name: 'python3' })).model)() });
    try {
      expect((await kc.info).language_info.name).toBe('python');
      expect(kc.serverSettings.WebSocket).toBeDefined();

      // Execute: stream and display_data.
      const r = await run(
        kc,
        'print("hello")\nfrom IPython.display import display, HTML\ndisplay(HTML("<b>x</b>"))',
      );
      expect(r.reply.content.status).toBe('ok');
      expect(r.stdout).toBe('hello\n');
      const display = r.iopub.find((m) => m.header.msg_type === 'display_data');
      expect((display?.content as Json)?.data['text/html']).toBe('<b>x</b>');

      // Input over stdin.
      const withInput = await run(kc, 'x = input("who? ")\nprint("hi", x)', (msg) => {
        if (msg.header.msg_type === 'input_request') {
          kc.sendInputReply(
            { status: 'ok', value: 'ada' },
            msg.header as KernelMessage.IInputRequestMsg['header'],
          );
        }
      });
      expect(withInput.stdout).toBe('hi ada\n');

      // Interrupt a busy kernel.
      // Once the code runs (its first output): a SIGINT that lands before it starts is lost.
      const busy = kc.requestExecute({ code: 'import time\nprint("sleeping", flush=True)\ntime.sleep(30)' });
      await new Promise<void>((resolve) => {
        busy.onIOPub = (m) => {
          if (m.header.msg_type === 'stream') resolve();
        };
      });
      await kc.interrupt();
      const interrupted = (await busy.done) as KernelMessage.IExecuteReplyMsg;
      expect(interrupted.content.status).toBe('error');
      expect((interrupted.content as Json).ename).toBe('KeyboardInterrupt');

      // Reconnect after a dropped socket without losing output.
      const ticks = kc.requestExecute({
        code: 'import time\nfor i in range(8):\n    print("tick", i, flush=True)\n    time.sleep(0.1)',
      });
      let text = '';
      let dropped = false;
      ticks.onIOPub = (m) => {
        if (m.header.msg_type !== 'stream') return;
        text += (m.content as Json).text;
        if (!dropped) {
          dropped = true;
          (kc as unknown as { _ws: WebSocket })._ws.terminate();
        }
      };
      const tickReply = (await ticks.done) as KernelMessage.IExecuteReplyMsg;
      expect(tickReply.content.status).toBe('ok');
      expect(dropped).toBe(true);
      for (let i = 0; i < 8; i++) expect(text).toContain(`tick ${i}\n`);

      // Restart: state is gone, the connection keeps working.
      await run(kc, 'y = 41');
      await kc.restart();
      const after = await run(kc, 'print("y" in globals())');
      expect(after.stdout).toBe('False\n');

      // Shut down.
      await kc.shutdown();
      expect((await api(s, 'GET', `/api/kernels/${kc.id}`)).status).toBe(404);
    } finally {
      kc.dispose();
      km.dispose();
    }
  });

  it('manages sessions', async () => {
    const serverSettings = settings(legacy);
    const kernelManager = new KernelManager({ serverSettings });
    const sm = new SessionManager({ kernelManager, serverSettings });
    await sm.ready;
    const session = await sm.startNew({
      path: `nb-${legacy}.ipynb`,
      name: 'nb',
      type: 'notebook',
      kernel: { name: 'python3' },
    });
    try {
      expect(session.kernel).toBeTruthy();
      const kc = session.kernel as Kernel.IKernelConnection;
      expect((await run(kc, 'print(6*7)')).stdout).toBe('42\n');
      await session.setPath(`renamed-${legacy}.ipynb`);
      const listed = await api(s, 'GET', '/api/sessions');
      expect(listed.body.map((x: Json) => x.path)).toContain(`renamed-${legacy}.ipynb`);
      await session.shutdown();
      expect((await api(s, 'GET', `/api/sessions/${session.id}`)).status).toBe(404);
    } finally {
      session.dispose();
      sm.dispose();
      kernelManager.dispose();
    }
  });
});
