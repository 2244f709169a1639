// Per-kernel uids: one uid of the configured range per live kernel, never shared, never one that still
// owns a process on the host (a previous kernel's straggler, or a real user the range overlaps).
import { readFileSync } from 'node:fs';
import { UidExhaustedError } from '../errors.js';
import { processOwners } from './procs.js';

export { UidExhaustedError };

export function validateUidRange(range: readonly [number, number]): void {
  const [lo, hi] = range;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1000 || hi < lo || hi > 0xfffffffe - 1) {
    throw new Error(`sandbox uidRange ${lo}-${hi} is invalid: integers, 1000 <= first <= last < 2^32-2`);
  }
}

/** Host accounts (from /etc/passwd) whose uid falls in the range: a kernel must never run as one. */
export function accountsInRange(range: readonly [number, number], passwd = '/etc/passwd'): string[] {
  let text: string;
  try {
    text = readFileSync(passwd, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    const n = Number(uid);
    if (name && uid !== undefined && uid !== '' && n >= range[0] && n <= range[1]) out.push(`${name}(${n})`);
  }
  return out;
}

export class UidAllocator {
  readonly #range: readonly [number, number];
  readonly #live = new Set<number>();
  readonly #reserved: ReadonlySet<number>;
  #cursor: number;

  /** `reserved`: uids never handed out (host accounts found in the range). */
  constructor(range: readonly [number, number], reserved: Iterable<number> = []) {
    validateUidRange(range);
    this.#range = range;
    this.#reserved = new Set(reserved);
    this.#cursor = range[0];
  }

  get size(): number {
    return this.#range[1] - this.#range[0] + 1;
  }

  get live(): number {
    return this.#live.size;
  }

  /**
   * Hands out a uid no live kernel holds and no host process owns. Round-robin from the last one
   * given, so a just-released uid is reused last. Synchronous bookkeeping after one /proc scan keeps
   * two concurrent acquire() calls from getting the same uid.
   */
  async acquire(): Promise<number> {
    const owners = await processOwners();
    const [lo, hi] = this.#range;
    const n = hi - lo + 1;
    for (let i = 0; i < n; i++) {
      const uid = lo + ((this.#cursor - lo + i) % n);
      if (this.#live.has(uid) || this.#reserved.has(uid) || owners.has(uid)) continue;
      this.#live.add(uid);
      this.#cursor = uid + 1 > hi ? lo : uid + 1;
      return uid;
    }
    throw new UidExhaustedError(this.#range);
  }

  /** Gives the uid back; only call once nothing of it runs any more. */
  release(uid: number): void {
    this.#live.delete(uid);
  }
}
