// POST /api/execute's wire shapes, once: the request the server validates and the result it answers,
// which the SDK returns as is (docs/api.md "One-shot execution").
import { type Static, Type } from 'typebox';

export const ExecuteBody = Type.Object({
  code: Type.String(),
  kernel: Type.Optional(Type.String({ maxLength: 128 })),
  /** Seconds; the server's own limit caps it. */
  timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 3600 })),
  /** Also store the code and its outputs as a permalink and answer its id. */
  permalink: Type.Optional(Type.Boolean()),
});
export type ExecuteBody = Static<typeof ExecuteBody>;

/** An error as Jupyter reports it (messaging spec, "Execution errors"): one-shot and job results alike. */
export const ErrorInfo = Type.Object({
  ename: Type.String(),
  evalue: Type.String(),
  traceback: Type.Array(Type.String()),
});

export const ExecuteResult = Type.Object({
  /** The kernel's execute_reply status, or `timeout` when the server stopped waiting. */
  status: Type.Union([
    Type.Literal('ok'),
    Type.Literal('error'),
    Type.Literal('aborted'),
    Type.Literal('timeout'),
  ]),
  stdout: Type.String(),
  stderr: Type.String(),
  /** display_data and execute_result outputs, in order. */
  outputs: Type.Array(
    Type.Object({
      output_type: Type.String(),
      data: Type.Record(Type.String(), Type.Unknown()),
      metadata: Type.Record(Type.String(), Type.Unknown()),
    }),
  ),
  /** The execute_result's text/plain, if any. */
  result: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([ErrorInfo, Type.Null()]),
  execution_count: Type.Union([Type.Number(), Type.Null()]),
  duration_ms: Type.Number(),
  /**
   * True when the answer reached the server's cap (RUNCELL_EXECUTE_MAX_OUTPUT_BYTES): what did not fit
   * was left out, a marker says so in stdout or stderr, and the execution was stopped. Absent otherwise.
   */
  truncated: Type.Optional(Type.Boolean()),
  /** Set when the request asked for a permalink. */
  permalink: Type.Optional(Type.Object({ id: Type.String(), url: Type.String() })),
});
export type ExecuteResult = Static<typeof ExecuteResult>;
