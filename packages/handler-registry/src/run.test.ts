import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineHandler, type Handler } from './define.js';
import { HandlerFailure } from './errors.js';
import { runHandler } from './run.js';

const context = { executionId: 'e-1', tenant: 't', nonce: 'n' };
const limits = { maxResultBytes: 1_024 };

function handler(run: (input: unknown, ctx: { signal: AbortSignal }) => unknown, timeoutMs = 200) {
  return defineHandler({
    name: 'h',
    version: '1',
    input: z.unknown(),
    output: z.object({ value: z.unknown() }),
    timeoutMs,
    sideEffects: true,
    run: run as never,
  });
}

describe('runHandler', () => {
  it('returns a succeeded outcome with the validated result', async () => {
    expect(
      await runHandler(
        handler(() => ({ value: 1 })),
        {},
        context,
        limits,
      ),
    ).toMatchObject({ status: 'succeeded', result: { value: 1 } });
  });

  it('turns a throw into handler_error without leaking the message', async () => {
    const outcome = await runHandler(
      handler(() => {
        throw new Error('secret token abc');
      }),
      {},
      context,
      limits,
    );
    expect(outcome).toMatchObject({ status: 'failed', code: 'handler_error' });
    expect(JSON.stringify(outcome)).not.toContain('secret token');
  });

  it('keeps the code and message of a HandlerFailure the handler author wrote', async () => {
    const outcome = await runHandler(
      handler(() => {
        throw new HandlerFailure('binary_changed', 'the pinned binary changed');
      }),
      {},
      context,
      limits,
    );
    expect(outcome).toMatchObject({
      status: 'failed',
      code: 'binary_changed',
      message: 'the pinned binary changed',
    });
  });

  it('turns a rejected promise into handler_error', async () => {
    expect(
      await runHandler(
        handler(() => Promise.reject(new TypeError('x'))),
        {},
        context,
        limits,
      ),
    ).toMatchObject({ status: 'failed', code: 'handler_error', message: 'handler threw TypeError' });
  });

  it('stops waiting at the timeout with handler_timeout and aborts the signal', async () => {
    let aborted = false;
    const outcome = await runHandler(
      handler(
        (_input, ctx) =>
          new Promise(() => {
            ctx.signal.addEventListener('abort', () => {
              aborted = true;
            });
          }),
        50,
      ),
      {},
      context,
      limits,
    );
    expect(outcome).toMatchObject({ status: 'failed', code: 'handler_timeout' });
    expect(aborted).toBe(true);
  });

  it('reports a handler that ignores its signal as settled only when it stops', async () => {
    let stop: () => void = () => {};
    let settled = 0;
    const outcome = await runHandler(
      handler(
        () =>
          new Promise((resolve) => {
            stop = () => resolve({ value: 'late' });
          }),
        50,
      ),
      {},
      context,
      { ...limits, onSettled: () => settled++ },
    );
    expect(outcome).toMatchObject({ status: 'failed', code: 'handler_timeout' });
    expect(settled).toBe(0);
    stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(1);
  });

  it('reports every other run as settled once, by the time its outcome is returned', async () => {
    const runs: Array<[string, Handler, AbortSignal | undefined]> = [
      ['succeeded', handler(() => ({ value: 1 })), undefined],
      [
        'thrown',
        handler(() => {
          throw new Error('x');
        }),
        undefined,
      ],
      ['rejected', handler(() => Promise.reject(new Error('x'))), undefined],
      ['invalid output', handler(() => ({ other: 1 })), undefined],
      ['aborted before it started', handler(() => ({ value: 1 })), AbortSignal.abort()],
    ];
    for (const [name, run, signal] of runs) {
      let settled = 0;
      await runHandler(run, {}, context, {
        ...limits,
        onSettled: () => settled++,
        ...(signal ? { signal } : {}),
      });
      expect([name, settled]).toEqual([name, 1]);
    }
  });

  it('never throws for an onSettled that does', async () => {
    const throwing = () => {
      throw new Error('caller bug');
    };
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(
        runHandler(
          handler(() => ({ value: 1 })),
          {},
          context,
          { ...limits, onSettled: throwing },
        ),
      ).resolves.toMatchObject({ status: 'succeeded' });
      await expect(
        runHandler(
          handler(() => ({ value: 1 })),
          {},
          context,
          {
            ...limits,
            onSettled: throwing,
            signal: AbortSignal.abort(),
          },
        ),
      ).resolves.toMatchObject({ status: 'failed', code: 'handler_aborted' });
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('fails a result outside the output schema with handler_output_invalid', async () => {
    expect(
      await runHandler(
        handler(() => ({ other: 1 })),
        {},
        context,
        limits,
      ),
    ).toMatchObject({ status: 'failed', code: 'handler_output_invalid' });
  });

  it('fails a result over the size cap with handler_result_too_large', async () => {
    expect(
      await runHandler(
        handler(() => ({ value: 'x'.repeat(2_000) })),
        {},
        context,
        limits,
      ),
    ).toMatchObject({ status: 'failed', code: 'handler_result_too_large' });
  });

  it('fails a result that is not JSON with handler_output_invalid', async () => {
    expect(
      await runHandler(
        handler(() => ({ value: 10n })),
        {},
        context,
        limits,
      ),
    ).toMatchObject({ status: 'failed', code: 'handler_output_invalid' });
  });

  it('reports handler_aborted when the caller aborts', async () => {
    const controller = new AbortController();
    const pending = runHandler(
      handler(
        (_input, ctx) =>
          new Promise((_resolve, reject) =>
            ctx.signal.addEventListener('abort', () => reject(new Error('stop'))),
          ),
        5_000,
      ),
      {},
      context,
      { ...limits, signal: controller.signal },
    );
    controller.abort();
    expect(await pending).toMatchObject({ status: 'failed', code: 'handler_aborted' });
  });
});
