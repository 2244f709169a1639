// Files the code writes: after each execution the kernel's work dir is compared with what was there
// before; new or changed top-level regular files (bounded in count and size, links never followed —
// see kernel-manager/workdir.ts) are stored content-addressed and announced to the clients as a
// display_data message with links. Uploads are placed in the work dir by the route in routes/kernels.
import { lookup } from 'mime-types';
import type { FileStat, Kernel } from '../../kernel-manager/index.js';
import type { Store } from '../store/db.js';

export interface WorkFileLimits {
  /** Files stored per execution at most. */
  maxFiles: number;
  /** Files larger than this are listed as skipped, not stored. */
  maxFileBytes: number;
}

export interface CapturedFile {
  id: string;
  name: string;
  size: number;
  mediaType: string;
  url: string;
}

export interface Capture {
  files: CapturedFile[];
  /** Names left out (too large, too many, unreadable), with why. */
  skipped: { name: string; reason: string }[];
}

/** MIME type of the work-dir files we announce: clients that know it render links their own way. */
export const FILES_MIME = 'application/vnd.runcell.files+json';

const key = (f: FileStat) => `${f.size}:${f.mtimeMs}`;

/** What the watcher needs of a kernel: its id and its work dir. */
export type WatchedKernel = Pick<Kernel, 'id' | 'files'>;

/** What the watcher needs of the store: a place for files. */
export type FileStore = { files: Pick<Store['files'], 'put'> };

export class WorkFileWatcher {
  readonly #kernel: WatchedKernel;
  readonly #store: FileStore;
  readonly #limits: WorkFileLimits;
  #seen = new Map<string, string>();

  constructor(kernel: WatchedKernel, store: FileStore, limits: WorkFileLimits) {
    this.#kernel = kernel;
    this.#store = store;
    this.#limits = limits;
    this.baseline();
  }

  /** Takes the work dir as it is now as the reference (files already there are not announced). */
  baseline(): void {
    this.#seen = new Map(this.#kernel.files.list(1_000).map((f) => [f.name, key(f)]));
  }

  /** New or changed files since the last call (synchronous: a readdir and lstats on a tmpfs). */
  changed(): FileStat[] {
    const now = this.#kernel.files.list(1_000);
    const out = now.filter((f) => this.#seen.get(f.name) !== key(f));
    this.#seen = new Map(now.map((f) => [f.name, key(f)]));
    return out;
  }

  async capture(changed: FileStat[]): Promise<Capture> {
    const files: CapturedFile[] = [];
    const skipped: Capture['skipped'] = [];
    for (const f of changed) {
      if (files.length >= this.#limits.maxFiles) {
        skipped.push({ name: f.name, reason: `more than ${this.#limits.maxFiles} files` });
        continue;
      }
      if (f.size > this.#limits.maxFileBytes) {
        skipped.push({ name: f.name, reason: `larger than ${this.#limits.maxFileBytes} bytes` });
        continue;
      }
      let data: Buffer;
      try {
        data = this.#kernel.files.read(f.name, this.#limits.maxFileBytes);
      } catch (e) {
        skipped.push({ name: f.name, reason: (e as Error).message });
        continue;
      }
      const mediaType = lookup(f.name) || 'application/octet-stream';
      const info = await this.#store.files.put({ name: f.name, mediaType, data, kernelId: this.#kernel.id });
      files.push({
        id: info.id,
        name: info.name,
        size: info.size,
        mediaType: info.mediaType,
        url: `/files/${info.id}/${encodeURIComponent(info.name)}`,
      });
    }
    return { files, skipped };
  }
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The display_data content that announces captured files. */
export function filesDisplay(c: Capture): Record<string, unknown> {
  const lines = c.files.map((f) => `${f.name} (${f.size} bytes): ${f.url}`);
  for (const s of c.skipped) lines.push(`${s.name}: not kept (${s.reason})`);
  const items = c.files.map(
    (f) => `<li><a href="${escapeHtml(f.url)}" download>${escapeHtml(f.name)}</a> (${f.size} bytes)</li>`,
  );
  for (const s of c.skipped) items.push(`<li>${escapeHtml(s.name)}: not kept (${escapeHtml(s.reason)})</li>`);
  return {
    data: {
      [FILES_MIME]: { files: c.files, skipped: c.skipped },
      'text/html': `<ul class="runcell-files">${items.join('')}</ul>`,
      'text/plain': `Files written:\n${lines.join('\n')}`,
    },
    metadata: {},
    transient: {},
  };
}
