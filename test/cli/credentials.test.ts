// The CLI's kept tokens (cli/credentials.ts): where they live, one per server origin, a 0700
// directory and a 0600 file whatever the umask, replaced whole (no temp file left), loose
// permissions tightened with a warning, a damaged file reported instead of overwritten.
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Credentials, CredentialsError, credentialsPath, serverKey } from '../../cli/credentials.js';

const root = mkdtempSync(join(tmpdir(), 'runcell-credentials-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const mode = (p: string) => statSync(p).mode & 0o777;

describe('credentials', () => {
  it('lives under XDG_CONFIG_HOME, else ~/.config', () => {
    expect(credentialsPath({ XDG_CONFIG_HOME: '/x/conf' })).toBe('/x/conf/runcell/credentials.json');
    expect(credentialsPath({})).toBe(join(homedir(), '.config', 'runcell', 'credentials.json'));
    // A relative XDG_CONFIG_HOME is invalid (XDG Base Directory spec) and ignored.
    expect(credentialsPath({ XDG_CONFIG_HOME: 'rel' })).toBe(
      join(homedir(), '.config', 'runcell', 'credentials.json'),
    );
  });

  it('keys entries by origin', () => {
    expect(serverKey('http://127.0.0.1:8888/')).toBe('http://127.0.0.1:8888');
    expect(serverKey('https://Run.Example.org/some/path')).toBe('https://run.example.org');
  });

  it('writes a 0700 directory and a 0600 file even with an open umask, and no temp files', () => {
    const path = join(root, 'a', 'runcell', 'credentials.json');
    const old = process.umask(0);
    try {
      const c = new Credentials(path);
      expect(c.get('http://s1:1')).toBeUndefined();
      c.save('http://s1:1/', { token: 'rc_one', id: 'i1', name: 'n1' });
      c.save('http://s2:2', { token: 'rc_two' });
    } finally {
      process.umask(old);
    }
    expect(mode(join(root, 'a', 'runcell'))).toBe(0o700);
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(join(root, 'a', 'runcell'))).toEqual(['credentials.json']);
    const c = new Credentials(path);
    expect(c.get('http://s1:1')).toMatchObject({ token: 'rc_one', id: 'i1', name: 'n1' });
    expect(c.get('http://s2:2/anything')?.token).toBe('rc_two');
    expect(c.remove('http://s1:1')).toBe(true);
    expect(c.remove('http://s1:1')).toBe(false);
    expect(Object.keys(JSON.parse(readFileSync(path, 'utf8')).servers)).toEqual(['http://s2:2']);
  });

  it('tightens loose permissions with a warning', () => {
    const dir = join(root, 'b', 'runcell');
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    chmodSync(dir, 0o755);
    const path = join(dir, 'credentials.json');
    writeFileSync(path, JSON.stringify({ version: 1, servers: { 'http://s:1': { token: 'rc_x' } } }));
    chmodSync(path, 0o644);
    const warnings: string[] = [];
    const c = new Credentials(path, (w) => warnings.push(w));
    expect(c.get('http://s:1')?.token).toBe('rc_x');
    expect(warnings).toEqual([`${path} was readable by other users; its permissions are now 0600`]);
    expect(mode(path)).toBe(0o600);
    c.save('http://t:2', { token: 'rc_y' });
    expect(mode(dir)).toBe(0o700);
  });

  it('reports a damaged file instead of overwriting it', () => {
    const dir = join(root, 'c', 'runcell');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, 'credentials.json');
    writeFileSync(path, 'not json', { mode: 0o600 });
    const c = new Credentials(path);
    expect(() => c.save('http://s:1', { token: 'rc_z' })).toThrow(CredentialsError);
    expect(readFileSync(path, 'utf8')).toBe('not json');
  });
});
