// Replay after a reconnect may repeat messages the client already has (the server counts a message as
// delivered only once the socket wrote it); drop repeats by msg_id, remembering a bounded window.
export class Dedupe {
  readonly #seen = new Set<string>();
  readonly #order: string[] = [];
  constructor(readonly size = 2_000) {}

  /** True the first time an id is seen. */
  first(id: string | undefined): boolean {
    if (!id) return true;
    if (this.#seen.has(id)) return false;
    this.#seen.add(id);
    this.#order.push(id);
    if (this.#order.length > this.size) this.#seen.delete(this.#order.shift() as string);
    return true;
  }
}
