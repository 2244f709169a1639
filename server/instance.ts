// Which instance answered: `X-Runcell-Instance` on every HTTP response, so operators (and the scale
// test) can see where a proxy sent a request. The name is the kernel id prefix without its trailing
// separator (RUNCELL_KERNEL_ID_PREFIX=r1- gives "r1"), the same name HAProxy routes by; with no prefix
// there is only one instance and no header. Websocket upgrades are answered by ws, not by this hook.
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';

export const INSTANCE_HEADER = 'x-runcell-instance';

/** The instance name for a kernel id prefix: "r1-" -> "r1"; "" -> "" (a single instance). */
export function instanceName(kernelIdPrefix: string): string {
  return kernelIdPrefix.replace(/[-_.:]+$/, '');
}

/** Adds the header to every response of `app` (register on the root instance, before routes). */
export function registerInstanceHeader(app: FastifyInstance, kernelIdPrefix: string): void {
  const name = instanceName(kernelIdPrefix);
  if (!name) return;
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header(INSTANCE_HEADER, name);
    return payload;
  });
}

/** This instance's name in tables all instances share (jobs, stats samples): RUNCELL_INSTANCE_ID, else host:port. */
export function instanceId(config: { instanceId: string; port: number }): string {
  return config.instanceId || `${hostname()}:${config.port}`;
}
