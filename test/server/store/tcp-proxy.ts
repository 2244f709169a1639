// A TCP proxy in front of the real Postgres (which other suites share and which must not be stopped):
// stop() cuts every connection and refuses new ones, as a database outage would; start() restores it on
// the same port.
import net from 'node:net';

export class TcpProxy {
  #server: net.Server | null = null;
  #sockets = new Set<net.Socket>();
  port = 0;
  constructor(readonly target: { host: string; port: number }) {}

  /** A started proxy to the database of `databaseUrl`, and the same URL through the proxy. */
  static async toDatabase(databaseUrl: string): Promise<{ proxy: TcpProxy; url: string }> {
    const url = new URL(databaseUrl);
    const proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    await proxy.start();
    url.host = `127.0.0.1:${proxy.port}`;
    return { proxy, url: url.toString() };
  }

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const sock of [client, upstream]) {
        this.#sockets.add(sock);
        sock.on('close', () => this.#sockets.delete(sock));
        sock.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const sock of this.#sockets) sock.destroy();
    if (server) await new Promise((r) => server.close(r));
  }
}
