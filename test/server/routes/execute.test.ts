// POST /api/execute with real kernels: output collection, errors, timeouts with partial output,
// the code size cap, and that the kernel is discarded.
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecuteResult } from '../../../shared/execute.js';
import { api, startServer, type TestServer, waitFor } from '../helpers.js';

let s: TestServer;

beforeAll(async () => {
  s = await startServer(6, { poolSize: 2, maxCodeBytes: 1000 });
});
afterAll(async () => {
  await s?.stop();
});

describe('POST /api/execute', () => {
  it('runs code and collects streams, rich output and the result', async () => {
    const code = [
      'import sys, base64',
      'print("out")',
      'print("err", file=sys.stderr)',
      'from IPython.display import display, Image',
      'png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")',
      'display(Image(data=png))',
      '6 * 7',
    ].join('\n');
    const r = await api(s, 'POST', '/api/execute', { code });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'ok',
      stdout: 'out\n',
      stderr: 'err\n',
      result: '42',
      error: null,
    });
    // The answer is what the SDK's type (shared/execute.ts) says it is.
    expect(Value.Check(ExecuteResult, r.body)).toBe(true);
    expect(r.body.execution_count).toBeGreaterThan(0);
    expect(r.body.duration_ms).toBeGreaterThanOrEqual(0);
    const image = r.body.outputs.find((o: { data: Record<string, string> }) => o.data['image/png']);
    expect(image.data['image/png']).toMatch(/^iVBOR/);
    expect(r.body.outputs.at(-1)).toMatchObject({
      output_type: 'execute_result',
      data: { 'text/plain': '42' },
    });
  });

  it('reports errors with ename, evalue and traceback', async () => {
    const r = await api(s, 'POST', '/api/execute', { code: 'print("before")\n1/0' });
    expect(r.body).toMatchObject({
      status: 'error',
      stdout: 'before\n',
      error: { ename: 'ZeroDivisionError' },
    });
    expect(r.body.error.traceback.length).toBeGreaterThan(0);
    expect(Value.Check(ExecuteResult, r.body)).toBe(true);
  });

  it('times out clearly, with the output that came before', async () => {
    // Answered at the timeout (status 'timeout'), not when the 30 s sleep ends (that would be 'ok').
    const r = await api(s, 'POST', '/api/execute', {
      code: 'import time\nprint("started", flush=True)\ntime.sleep(30)',
      timeout: 1,
    });
    expect(r.body).toMatchObject({
      status: 'timeout',
      stdout: 'started\n',
      error: { ename: 'TimeoutError' },
    });
  });

  it('discards the kernel afterwards', async () => {
    const before = s.manager.stats().live;
    await api(s, 'POST', '/api/execute', { code: 'x = 1' });
    await waitFor(() => s.manager.list().length === 0, 10_000, 'the one-shot kernel to go away');
    expect(s.manager.stats().live).toBeLessThanOrEqual(before + 1);
  });

  it('caps code size and validates the body', async () => {
    const big = await api(s, 'POST', '/api/execute', { code: 'x'.repeat(2000) });
    expect(big).toMatchObject({ status: 413, body: { code: 'RUNCELL_ERR_CODE_TOO_LARGE' } });
    const missing = await api(s, 'POST', '/api/execute', { kernel: 'python3' });
    expect(missing).toMatchObject({ status: 400, body: { code: 'RUNCELL_ERR_BAD_REQUEST' } });
    // A number is not code: refused, never coerced into the cell `5` and run.
    const served = () => Object.values(s.manager.stats().served).reduce((a, b) => a + b, 0);
    const before = served();
    const number = await api(s, 'POST', '/api/execute', { code: 5 });
    expect(number).toMatchObject({ status: 400, body: { code: 'RUNCELL_ERR_BAD_REQUEST' } });
    expect(served()).toBe(before);
    const unknown = await api(s, 'POST', '/api/execute', { code: '1', kernel: 'cobol' });
    expect(unknown).toMatchObject({ status: 400, body: { code: 'RUNCELL_ERR_UNKNOWN_KERNEL_NAME' } });
  });
});
