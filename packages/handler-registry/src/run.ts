import type { Handler, HandlerContext } from './define.js';
import { HandlerFailure } from './errors.js';

export type HandlerFailureCode =
  | 'handler_error'
  | 'handler_timeout'
  | 'handler_output_invalid'
  | 'handler_result_too_large'
  | 'handler_aborted';

export type HandlerOutcome =
  | { status: 'succeeded'; result: unknown; durationMs: number }
  | { status: 'failed'; code: HandlerFailureCode | (string & {}); message: string; durationMs: number };

export interface RunHandlerOptions {
  /** Largest accepted result, measured as UTF-8 JSON. */
  maxResultBytes: number;
  /** Aborts the run from outside (shutdown). */
  signal?: AbortSignal;
  /**
   * Called once the handler itself has settled: when the run ends, or, for a handler that
   * ignores its signal, when it finally stops after its outcome (timeout, abort) was returned.
   * JavaScript cannot stop a promise, so this is how a caller keeps counting such a run.
   */
  onSettled?: () => void;
}

/**
 * Runs an already-validated input through a handler. Never throws: a throw, a timeout, an
 * output that breaks the handler's schema or an oversized result is a `failed` outcome, so it
 * can be stored and replayed like any other outcome.
 */
export async function runHandler(
  handler: Handler,
  input: unknown,
  context: Omit<HandlerContext, 'signal'>,
  options: RunHandlerOptions,
): Promise<HandlerOutcome> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;
  // A throwing callback must not turn into a rejection: runHandler never throws.
  const settled = () => {
    try {
      options.onSettled?.();
    } catch {}
  };
  if (options.signal?.aborted) {
    settled();
    return {
      status: 'failed',
      code: 'handler_aborted',
      message: 'handler was aborted before it started',
      durationMs: 0,
    };
  }
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onOuterAbort: (() => void) | undefined;
  // The handler may ignore its signal: the race settles on timeout or abort regardless.
  const stop = new Promise<'timeout' | 'aborted'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), handler.timeoutMs);
    onOuterAbort = () => resolve('aborted');
    options.signal?.addEventListener('abort', onOuterAbort, { once: true });
  });
  const running = Promise.resolve().then(() => handler.run(input, { ...context, signal: controller.signal }));
  running.then(settled, settled);
  try {
    const raced = await Promise.race([running, stop]);
    if (raced === 'timeout' || raced === 'aborted') {
      controller.abort(new Error(`handler ${raced}`));
      return raced === 'timeout'
        ? {
            status: 'failed',
            code: 'handler_timeout',
            message: `handler exceeded ${handler.timeoutMs} ms`,
            durationMs: elapsed(),
          }
        : {
            status: 'failed',
            code: 'handler_aborted',
            message: 'handler was aborted',
            durationMs: elapsed(),
          };
    }
    const parsed = handler.output.safeParse(raced);
    if (!parsed.success) {
      return {
        status: 'failed',
        code: 'handler_output_invalid',
        message: 'handler returned a result outside its output schema',
        durationMs: elapsed(),
      };
    }
    let size: number;
    try {
      size = Buffer.byteLength(JSON.stringify(parsed.data) ?? '', 'utf8');
    } catch {
      return {
        status: 'failed',
        code: 'handler_output_invalid',
        message: 'handler result is not JSON',
        durationMs: elapsed(),
      };
    }
    if (size > options.maxResultBytes) {
      return {
        status: 'failed',
        code: 'handler_result_too_large',
        message: `handler result is ${size} bytes, over the ${options.maxResultBytes} byte cap`,
        durationMs: elapsed(),
      };
    }
    return { status: 'succeeded', result: parsed.data, durationMs: elapsed() };
  } catch (error) {
    if (controller.signal.aborted) {
      return {
        status: 'failed',
        code: 'handler_aborted',
        message: 'handler was aborted',
        durationMs: elapsed(),
      };
    }
    if (error instanceof HandlerFailure) {
      return { status: 'failed', code: error.code, message: error.message, durationMs: elapsed() };
    }
    // The handler's own message may carry payload data: keep only its class name.
    const kind = error instanceof Error ? error.name : typeof error;
    return {
      status: 'failed',
      code: 'handler_error',
      message: `handler threw ${kind}`,
      durationMs: elapsed(),
    };
  } finally {
    clearTimeout(timer);
    if (onOuterAbort) options.signal?.removeEventListener('abort', onOuterAbort);
  }
}
