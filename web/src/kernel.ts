// One kernel on the runcell server as the page sees it: started on first use, one transport, requests
// routed back to the cell that sent them by parent msg_id. Linked cells (same key) share one; every
// other cell gets its own. Every kernel is started for this page (PAGE_ID): the server counts the
// page's cells as one visitor and ends their kernels once the page's connections are gone.
import { Api, type KernelModel } from './api.js';
import { type Message, newId, request, type StatusContent } from './messages.js';
import { connect, type LinkState, type Transport, type TransportMode } from './transport/index.js';
import { WidgetHost } from './widgets/hook.js';

/** What a cell shows as its status. */
export type KernelStatus = 'connecting' | 'ready' | 'busy' | 'idle' | 'reconnecting' | 'restarting' | 'dead';

export interface StatusDetail {
  status: KernelStatus;
  reason?: string | undefined;
  transport?: 'websocket' | 'longpoll' | undefined;
  kernelId?: string | undefined;
  /** Dead because unused this long (ms): the next run starts a fresh kernel. */
  idleMs?: number | undefined;
}

/** This page load's id (a reload is a new page). */
export const PAGE_ID = newId();

type Listener = (d: StatusDetail) => void;
type Handler = (m: Message) => void;

export interface KernelOptions {
  server: string;
  kernel?: string | undefined;
  token?: string | undefined;
  transport: TransportMode;
}

export class KernelConnection {
  readonly api: Api;
  readonly kernelName: string | undefined;
  readonly #mode: TransportMode;
  readonly #session = newId();
  readonly #listeners = new Set<Listener>();
  readonly #handlers = new Map<string, Handler>();
  /** Executions in flight (their msg_ids): where the server's parentless notices are shown. */
  readonly #executing = new Set<string>();
  /** Cells listening for update_display_data, which may target any output of this kernel. */
  readonly #broadcast = new Set<Handler>();
  #transport: Transport | undefined;
  #model: KernelModel | undefined;
  #starting: Promise<void> | undefined;
  #detail: StatusDetail = { status: 'idle' };
  #link: LinkState = 'closed';
  #exec: 'idle' | 'busy' | 'starting' = 'idle';
  /** Comm messages and widget outputs, on this connection's message stream (any transport). */
  readonly widgets = new WidgetHost({
    send: (type, content, metadata) => {
      const m = request(type, content, this.#session);
      if (metadata) m.metadata = metadata;
      this.#transport?.send(m);
      return m.header.msg_id;
    },
    deliver: (m) => this.#dispatch(m),
  });

  constructor(opts: KernelOptions) {
    this.api = new Api(opts.server, opts.token);
    this.kernelName = opts.kernel;
    this.#mode = opts.transport;
    // A page that long-polls this server keeps its other requests to one connection from the start
    // (its first cells' kernel starts included): with the poll, two connections in all.
    if (opts.transport === 'longpoll') this.api.lane.narrow();
  }

  get id(): string | undefined {
    return this.#model?.id;
  }

  get status(): StatusDetail {
    return this.#detail;
  }

  get started(): boolean {
    return this.#model !== undefined;
  }

  onStatus(l: Listener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  onBroadcast(h: Handler): () => void {
    this.#broadcast.add(h);
    return () => this.#broadcast.delete(h);
  }

  #set(status: KernelStatus, reason?: string, idleMs?: number): void {
    if (status === 'dead' || status === 'restarting')
      this.widgets.disable(status === 'dead' ? (reason ?? 'the kernel stopped') : 'the kernel restarted');
    this.#detail = { status, reason, transport: this.#transport?.kind, kernelId: this.#model?.id };
    if (idleMs !== undefined) this.#detail.idleMs = idleMs;
    for (const l of this.#listeners) l(this.#detail);
  }

  /** Starts the kernel and its connection once; later calls wait for the same start. */
  ensure(): Promise<void> {
    if (this.#detail.status === 'dead') return this.#replace();
    this.#starting ??= this.#start().catch((e: unknown) => {
      this.#starting = undefined;
      this.#set('dead', e instanceof Error ? e.message : String(e));
      throw e;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.#set('connecting');
    this.#model = await this.api.startKernel(this.kernelName, PAGE_ID);
    this.#open();
  }

  #open(): void {
    const model = this.#model as KernelModel;
    this.#transport = connect(
      {
        server: this.api.server,
        kernelId: model.id,
        page: PAGE_ID,
        session: this.#session,
        token: this.api.token,
        alive: () => this.api.kernelExists(model.id),
      },
      {
        message: (m) => this.#onMessage(m),
        state: (s, detail) => this.#onLink(s, detail),
        gone: (reason) => {
          this.#transport?.close();
          // The kernel's own dead status (with why) came first when it had one: keep it.
          if (this.#detail.status !== 'dead') this.#set('dead', reason);
        },
      },
      this.#mode,
    );
  }

  #onLink(s: LinkState, detail?: string): void {
    if (s === 'open' && this.#link === 'reconnecting') this.widgets.resync();
    this.#link = s;
    if (this.#detail.status === 'dead') return;
    if (s === 'open') this.#set(this.#exec === 'busy' ? 'busy' : 'ready');
    else if (s === 'reconnecting') this.#set('reconnecting', detail);
    else if (s === 'connecting') this.#set('connecting');
  }

  #onMessage(m: Message): void {
    if (!this.widgets.intercept(m)) this.#dispatch(m);
  }

  #dispatch(m: Message): void {
    const type = m.header?.msg_type;
    if (m.channel === 'iopub' && type === 'status') {
      const c = m.content as unknown as StatusContent;
      const state = c.execution_state;
      if (state === 'dead') {
        this.#set('dead', c.reason ?? 'the kernel died', c.idle_ms);
      } else if (state === 'restarting') {
        this.#set('restarting');
      } else if (state === 'busy' || state === 'idle' || state === 'starting') {
        this.#exec = state;
        if (this.#link === 'open') this.#set(state === 'busy' ? 'busy' : 'idle');
      }
    }
    if (type === 'update_display_data') {
      for (const h of this.#broadcast) h(m);
      return;
    }
    const parent = m.parent_header?.msg_id;
    if (parent) this.#handlers.get(parent)?.(m);
    else if (m.channel === 'iopub' && type === 'stream') {
      // A notice of the server's about this connection (messages lost, a refusal): every running
      // cell shows it, since what it is about may be theirs.
      for (const id of this.#executing) this.#handlers.get(id)?.(m);
    }
  }

  /** Sends code; every reply and output of this request goes to `handler` until `release`. */
  async execute(code: string, handler: Handler): Promise<string> {
    await this.ensure();
    const msg = request(
      'execute_request',
      {
        code,
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: true,
        stop_on_error: true,
      },
      this.#session,
    );
    this.#handlers.set(msg.header.msg_id, handler);
    this.#executing.add(msg.header.msg_id);
    (this.#transport as Transport).send(msg);
    return msg.header.msg_id;
  }

  /**
   * A shell request that is answered by one reply (complete_request, inspect_request): resolves with
   * the reply's content, or undefined when no reply came in `timeoutMs` (a busy kernel answers late).
   */
  async ask(
    msgType: string,
    content: Record<string, unknown>,
    timeoutMs = 5_000,
  ): Promise<Record<string, unknown> | undefined> {
    // A dead kernel is replaced only by Restart, never by a completion.
    if (this.#detail.status === 'dead') return undefined;
    await this.ensure();
    const msg = request(msgType, content, this.#session);
    const id = msg.header.msg_id;
    const replyType = msgType.replace(/_request$/, '_reply');
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (v: Record<string, unknown> | undefined) => {
        clearTimeout(timer);
        this.#handlers.delete(id);
        resolve(v);
      };
      this.#handlers.set(id, (m) => {
        if (m.header.msg_type === replyType) done(m.content);
      });
      (this.#transport as Transport).send(msg);
    });
  }

  release(msgId: string): void {
    this.#handlers.delete(msgId);
    this.#executing.delete(msgId);
  }

  /** Answers an input_request (stdin channel; the parent is the request being answered). */
  inputReply(value: string, requestMsg: Message): void {
    this.#transport?.send(request('input_reply', { value }, this.#session, 'stdin', requestMsg.header));
  }

  async interrupt(): Promise<void> {
    if (this.#model) await this.api.interrupt(this.#model.id);
  }

  /** Restarts the kernel; a dead one is replaced by a new kernel of the same spec. */
  async restart(): Promise<void> {
    if (!this.#model || this.#detail.status === 'dead') return this.#replace();
    this.#set('restarting');
    await this.api.restart(this.#model.id);
    this.#exec = 'idle';
    if (this.#link === 'open') this.#set('idle');
  }

  async #replace(): Promise<void> {
    this.#transport?.close();
    this.#transport = undefined;
    this.#model = undefined;
    this.#starting = undefined;
    // The old kernel died mid-run: its busy never ended, and must not carry over to the new one.
    this.#exec = 'idle';
    this.#detail = { status: 'connecting' };
    return this.ensure();
  }

  /** Ends the kernel with the page. */
  shutdown(): void {
    this.#transport?.close();
    if (this.#model) this.api.shutdownOnUnload(this.#model.id);
    this.#model = undefined;
  }
}

const linked = new Map<string, KernelConnection>();
const all = new Set<KernelConnection>();

/** The kernel for a cell: shared by every cell with the same link key, else a new one. */
export function kernelFor(opts: KernelOptions & { link?: string | undefined }): KernelConnection {
  const key = opts.link ? `${opts.server}|${opts.kernel ?? ''}|${opts.link}` : undefined;
  const found = key ? linked.get(key) : undefined;
  if (found) return found;
  const k = new KernelConnection(opts);
  if (key) linked.set(key, k);
  all.add(k);
  return k;
}

let unloadHooked = false;
export function shutdownOnUnload(): void {
  if (unloadHooked) return;
  unloadHooked = true;
  window.addEventListener('pagehide', (e) => {
    if (e.persisted) return; // kept in the back/forward cache: the page may come back
    // One beacon per server ends all of the page's kernels there; without it (a crash, a lost
    // network) the server frees them a few seconds after the page's connections close.
    const servers = new Map<string, KernelConnection>();
    for (const k of all) if (k.started) servers.set(`${k.api.server}|${k.api.token ?? ''}`, k);
    for (const k of servers.values()) k.api.closePage(PAGE_ID);
  });
}
