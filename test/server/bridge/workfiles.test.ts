// Files the code writes are stored and announced (before idle) with links that serve them
// byte-identical; links the kernel plants are never followed; uploads are placed in the work dir.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FILES_MIME } from '../../../server/bridge/workfiles.js';
import { api, auth, type Json, newKernel, RawClient, startServer, type TestServer } from '../helpers.js';

let s: TestServer;
let kernelId: string;
let c: RawClient;
beforeAll(async () => {
  s = await startServer(10, { poolSize: 1 }, { store: true });
  kernelId = await newKernel(s);
  c = await RawClient.open(s, kernelId);
});
afterAll(async () => {
  c?.close();
  await s?.stop();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const announced = (all: Json[]) =>
  all.find((m) => m.header.msg_type === 'display_data' && m.content.data[FILES_MIME])?.content.data[
    FILES_MIME
  ];

async function upload(data: Buffer, filename: string): Promise<string> {
  const meta = `filename ${Buffer.from(filename).toString('base64')}`;
  const created = await fetch(`${s.base}/api/uploads`, {
    method: 'POST',
    headers: {
      ...auth,
      'tus-resumable': '1.0.0',
      'upload-length': String(data.length),
      'upload-metadata': meta,
    },
  });
  expect(created.status).toBe(201);
  const url = new URL(created.headers.get('location') as string, s.base).toString();
  const patched = await fetch(url, {
    method: 'PATCH',
    headers: {
      ...auth,
      'tus-resumable': '1.0.0',
      'upload-offset': '0',
      'content-type': 'application/offset+octet-stream',
    },
    body: data,
  });
  expect(patched.status).toBe(204);
  return url.split('/').pop() as string;
}

describe('files the code writes', () => {
  it('stores new files and announces them before idle; the links serve them byte-identical', async () => {
    const r = await c.run(
      [
        'import matplotlib',
        'matplotlib.use("Agg")',
        'import matplotlib.pyplot as plt, hashlib',
        'plt.plot([1, 3, 2]); plt.savefig("plot.png")',
        'open("table.csv", "w").write("a,b\\n1,2\\n")',
        'print(hashlib.sha256(open("plot.png", "rb").read()).hexdigest())',
      ].join('\n'),
    );
    const files = announced(r.all);
    expect(files.files.map((f: Json) => f.name).sort()).toEqual(['plot.png', 'table.csv']);
    // Announced before the execution's idle status.
    const at = r.all.findIndex((m) => m.content.data?.[FILES_MIME]);
    const idle = r.all.findIndex(
      (m) => m.header.msg_type === 'status' && m.content.execution_state === 'idle',
    );
    expect(at).toBeLessThan(idle);
    const png = files.files.find((f: Json) => f.name === 'plot.png');
    expect(png.mediaType).toBe('image/png');
    const res = await fetch(`${s.base}${png.url}`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('image/png');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(sha(Buffer.from(await res.arrayBuffer()))).toBe(r.stdout.trim());
  });

  it('announces only what changed, and nothing when nothing did', async () => {
    const quiet = await c.run('x = 1');
    expect(announced(quiet.all)).toBeUndefined();
    const changed = await c.run('open("table.csv", "a").write("3,4\\n")');
    expect(announced(changed.all).files.map((f: Json) => f.name)).toEqual(['table.csv']);
  });

  it('never follows a link the kernel planted, nor keeps dot files or directories', async () => {
    const r = await c.run(
      'import os\nos.symlink("/etc/passwd", "passwd.txt")\nos.symlink("/proc/1/environ", "env.txt")\nos.mkdir("dir")\nopen(".secret", "w").write("x")',
    );
    expect(announced(r.all)).toBeUndefined();
  });

  it('places an upload in the work dir where the code can open it', async () => {
    const data = Buffer.from(`uploaded ${Date.now()}\n`.repeat(100));
    const id = await upload(data, 'input.txt');
    const placed = await api(s, 'POST', `/api/kernels/${kernelId}/files`, { upload: id });
    expect(placed.status).toBe(201);
    expect(placed.body).toEqual({ name: 'input.txt', size: data.length });
    const r = await c.run('import hashlib; print(hashlib.sha256(open("input.txt","rb").read()).hexdigest())');
    expect(r.stdout.trim()).toBe(sha(data));
    // The upload itself is not announced as something the code wrote.
    expect(announced(r.all)).toBeUndefined();
    // Never replaces an existing file.
    const again = await api(s, 'POST', `/api/kernels/${kernelId}/files`, { upload: id });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('RUNCELL_ERR_FILE_REFUSED');
  });

  it('refuses traversal, dot files, control characters and links as upload names', async () => {
    const id = await upload(Buffer.from('x'), 'ok.txt');
    for (const name of ['../escape.txt', '.bashrc', 'a\u0007b.txt', 'dir/x.txt', '']) {
      const r = await api(s, 'POST', `/api/kernels/${kernelId}/files`, { upload: id, name });
      expect(r.status, name).toBe(400);
      expect(r.body.code).toBe('RUNCELL_ERR_BAD_REQUEST');
    }
    // A link planted under the wanted name is not followed: the write is refused.
    await c.run('import os\nos.symlink("/tmp/target", "planted.txt")');
    const r = await api(s, 'POST', `/api/kernels/${kernelId}/files`, { upload: id, name: 'planted.txt' });
    expect(r.status).toBe(409);
    const check = await c.run('import os\nprint(os.path.exists("/tmp/target"))');
    expect(check.stdout.trim()).toBe('False');
  });

  it('answers 404 for an unknown upload or kernel', async () => {
    const a = await api(s, 'POST', `/api/kernels/${kernelId}/files`, { upload: 'nope', name: 'x.txt' });
    expect(a.status).toBe(404);
    const b = await api(s, 'POST', '/api/kernels/not-a-kernel/files', { upload: 'nope' });
    expect(b.status).toBe(404);
  });
});
