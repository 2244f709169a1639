// The Jupyter Server REST API calls runcell makes (https://jupyter-server.readthedocs.io/en/latest/developers/rest-api.html).
import { GatewayHttpError } from '../errors.js';
import type { GatewayConfig } from './provider.js';

export { GatewayHttpError };

/** A JSON request to a gateway; network errors and timeouts reject, non-2xx statuses reject with GatewayHttpError. */
export async function call(
  g: GatewayConfig,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 10_000,
): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (g.token) headers.authorization = `token ${g.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path, base(g)), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new GatewayHttpError(res.status, `${method} ${path}: HTTP ${res.status}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

function base(g: GatewayConfig): string {
  return g.url.endsWith('/') ? g.url : `${g.url}/`;
}

/** The websocket URL of a kernel's channels. */
export function channelsUrl(g: GatewayConfig, kernelId: string, session: string): string {
  const u = new URL(`api/kernels/${encodeURIComponent(kernelId)}/channels`, base(g));
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.searchParams.set('session_id', session);
  return u.toString();
}

/** True when the failure says the host is unhealthy (no answer, or a server error), not that a request was refused. */
export function isHostFailure(e: unknown): boolean {
  return !(e instanceof GatewayHttpError) || e.status >= 500;
}
