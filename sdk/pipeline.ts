// Pipeline files (YAML or JSON) -> job specs for `RunCell.submit`. docs/jobs.md has the format:
//
//   timeout: 60                  # defaults for every job: timeout, kernel, tags
//   jobs:
//     fetch: { file: fetch.py }  # a map by name, or a list of {name, ...}
//     clean: { file: clean.py, needs: [fetch] }
//     check: { code: "print(2+2)", needs: [clean], replicas: 3, pick: majority }
//
// Code comes from `code` or from `file` (relative to the pipeline file). The server checks the graph
// (unknown names, cycles); this only checks the shape, with messages that name the job at fault.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { JobSpec, Pick } from '../shared/jobs.js';

export class PipelineError extends Error {}

const JOB_KEYS = new Set([
  'name',
  'code',
  'file',
  'needs',
  'replicas',
  'pick',
  'timeout',
  'kernel',
  'tags',
  'files',
]);
const TOP_KEYS = new Set(['jobs', 'timeout', 'kernel', 'tags', 'name']);

export interface ParseOptions {
  /** 'yaml' (a superset of JSON) unless told. */
  format?: 'yaml' | 'json';
  /** Reads a job's `file` (default: relative to `baseDir`, or the working directory). */
  readFile?: (path: string) => string;
  baseDir?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown, what: string): string[] | undefined {
  if (v === undefined) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string'))
    throw new PipelineError(`${what} must be a list of strings`);
  return list as string[];
}

/** A pipeline document's jobs as JobSpecs (with names and needs), in file order. */
export function parsePipeline(text: string, o: ParseOptions = {}): JobSpec[] {
  let doc: unknown;
  try {
    doc = o.format === 'json' ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new PipelineError(`not valid ${o.format === 'json' ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
  }
  if (!isObject(doc) || doc.jobs === undefined) throw new PipelineError('a pipeline needs a "jobs" key');
  for (const k of Object.keys(doc)) if (!TOP_KEYS.has(k)) throw new PipelineError(`unknown key "${k}"`);
  const read = o.readFile ?? ((p: string) => readFileSync(resolve(o.baseDir ?? process.cwd(), p), 'utf8'));
  const entries: [string | undefined, unknown][] = Array.isArray(doc.jobs)
    ? doc.jobs.map((j) => [undefined, j])
    : isObject(doc.jobs)
      ? Object.entries(doc.jobs)
      : [];
  if (entries.length === 0) throw new PipelineError('"jobs" must be a non-empty list or map');
  const defaults = {
    timeout: doc.timeout,
    kernel: doc.kernel,
    tags: strings(doc.tags, '"tags"'),
  };
  return entries.map(([key, j], i) => {
    if (!isObject(j)) throw new PipelineError(`job ${key ?? `#${i + 1}`} must be a map`);
    const name = key ?? j.name;
    const label = typeof name === 'string' ? `job "${name}"` : `job #${i + 1}`;
    if (typeof name !== 'string' || name === '') throw new PipelineError(`${label} needs a name`);
    for (const k of Object.keys(j))
      if (!JOB_KEYS.has(k)) throw new PipelineError(`${label}: unknown key "${k}"`);
    if ((j.code === undefined) === (j.file === undefined))
      throw new PipelineError(`${label} needs exactly one of "code" and "file"`);
    let code: string;
    if (typeof j.file === 'string') {
      try {
        code = read(j.file);
      } catch (e) {
        const c = (e as { code?: string }).code;
        throw new PipelineError(`${label}: cannot read ${j.file}${c ? ` (${c})` : ''}`);
      }
    } else if (typeof j.code === 'string') code = j.code;
    else throw new PipelineError(`${label}: "code" and "file" are strings`);
    const timeout = j.timeout ?? defaults.timeout;
    const kernel = j.kernel ?? defaults.kernel;
    const tags = strings(j.tags, `${label}: "tags"`) ?? defaults.tags;
    const needs = strings(j.needs, `${label}: "needs"`);
    const files = strings(j.files, `${label}: "files"`);
    if (timeout !== undefined && typeof timeout !== 'number')
      throw new PipelineError(`${label}: "timeout" is seconds`);
    if (kernel !== undefined && typeof kernel !== 'string')
      throw new PipelineError(`${label}: "kernel" is a name`);
    if (j.replicas !== undefined && !Number.isInteger(j.replicas))
      throw new PipelineError(`${label}: "replicas" is a whole number`);
    if (j.pick !== undefined && j.pick !== 'first' && j.pick !== 'majority')
      throw new PipelineError(`${label}: "pick" is "first" or "majority"`);
    return {
      name,
      code,
      ...(needs ? { needs } : {}),
      ...(j.replicas !== undefined ? { replicas: j.replicas as number } : {}),
      ...(j.pick !== undefined ? { pick: j.pick as Pick } : {}),
      ...(timeout !== undefined ? { timeout } : {}),
      ...(kernel !== undefined ? { kernel } : {}),
      ...(tags ? { tags } : {}),
      ...(files ? { files } : {}),
    };
  });
}

/** Reads a pipeline file (`.json` as JSON, anything else as YAML); job files are relative to it. */
export function loadPipeline(path: string): JobSpec[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const c = (e as { code?: string }).code;
    throw new PipelineError(c === 'ENOENT' ? `no such file: ${path}` : `cannot read ${path}: ${c ?? e}`);
  }
  return parsePipeline(text, {
    format: /\.json$/i.test(path) ? 'json' : 'yaml',
    baseDir: dirname(resolve(path)),
  });
}

/** A file name that looks like a pipeline rather than code. */
export const isPipelineFile = (path: string) => /\.(ya?ml|json)$/i.test(path);
