// Where `runcell login` keeps API tokens: $XDG_CONFIG_HOME/runcell/credentials.json (by default
// ~/.config/runcell/credentials.json), one entry per server origin. The directory is made 0700 and
// the file 0600; every write goes to a new private file that is then renamed over the old one, so a
// reader never sees half a file and the token is never readable by others, not even for a moment.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface SavedToken {
  token: string;
  /** The token's id on the server (tokens issued by `runcell login`). */
  id?: string;
  name?: string;
  /**
   * `login`: issued to this CLI by the browser login, so nothing else holds it and replacing it revokes
   * it. Absent for a token given with `login --token` (it may be in use elsewhere) and in entries
   * written before this field existed.
   */
  source?: 'login';
  saved_at: string;
}

interface CredentialsFile {
  version: 1;
  servers: Record<string, SavedToken>;
}

export class CredentialsError extends Error {}

export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'runcell', 'credentials.json');
}

/** Entries are per origin: the API's paths are absolute, so a path in --server changes nothing. */
export function serverKey(url: string): string {
  return new URL(url).origin;
}

function read(path: string, warn: (s: string) => void): CredentialsFile {
  let text: string;
  try {
    const st = statSync(path);
    if (st.mode & 0o077) {
      chmodSync(path, 0o600);
      warn(`${path} was readable by other users; its permissions are now 0600`);
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { version: 1, servers: {} };
    throw new CredentialsError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    const data = JSON.parse(text) as Partial<CredentialsFile>;
    if (data && typeof data === 'object' && data.servers && typeof data.servers === 'object')
      return { version: 1, servers: { ...data.servers } };
  } catch {}
  throw new CredentialsError(`${path} is not a runcell credentials file; move it away and log in again`);
}

function write(path: string, data: CredentialsFile): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (statSync(dir).mode & 0o077) chmodSync(dir, 0o700);
  const tmp = join(dir, `.credentials.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(data, null, 2)}\n`);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export class Credentials {
  constructor(
    readonly path: string = credentialsPath(),
    readonly warn: (s: string) => void = () => {},
  ) {}

  get(server: string): SavedToken | undefined {
    return read(this.path, this.warn).servers[serverKey(server)];
  }

  save(server: string, entry: Omit<SavedToken, 'saved_at'>): void {
    const data = read(this.path, this.warn);
    data.servers[serverKey(server)] = { ...entry, saved_at: new Date().toISOString() };
    write(this.path, data);
  }

  /** True when there was an entry to remove. */
  remove(server: string): boolean {
    const data = read(this.path, this.warn);
    const key = serverKey(server);
    if (!(key in data.servers)) return false;
    delete data.servers[key];
    write(this.path, data);
    return true;
  }
}
