import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { defineHandler } from '@openexec/handler-registry';
import { z } from 'zod';

/** Appends one line per run to `file` (fsync'd by the OS on close): the durable run counter of the exactly-once tests. */
export function countingHandler(file: string, delayMs = 0) {
  return defineHandler({
    name: 'count',
    version: '1.0.0',
    input: z
      .object({ label: z.string().optional(), delayMs: z.number().int().min(0).max(60_000).optional() })
      .strict(),
    output: z.object({ ran: z.literal(true) }),
    timeoutMs: 120_000,
    sideEffects: true,
    run: async (input, ctx) => {
      appendFileSync(file, `${ctx.nonce}\n`);
      const wait = input.delayMs ?? delayMs;
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      return { ran: true as const };
    },
  });
}

export function runsIn(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

/**
 * Resolves once the handler has started for every nonce: a test that must act while a run is
 * in progress waits for it instead of for a fixed delay that a loaded CI machine can outlast.
 */
export async function untilRunning(file: string, ...nonces: string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!nonces.every((nonce) => runsIn(file).includes(nonce))) {
    if (Date.now() > deadline) throw new Error(`no run of ${nonces.join(', ')} started within 20 s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export const failingHandler = defineHandler({
  name: 'fail',
  version: '1.0.0',
  input: z.object({ secret: z.string().optional() }).strict(),
  output: z.object({}),
  timeoutMs: 1_000,
  sideEffects: true,
  run: (input) => {
    throw new Error(`boom with ${input.secret ?? 'nothing'}`);
  },
});

export const timeoutHandler = defineHandler({
  name: 'hang',
  version: '1.0.0',
  input: z.object({}).strict(),
  output: z.object({}),
  timeoutMs: 100,
  sideEffects: true,
  run: () => new Promise<Record<string, never>>(() => {}),
});

export const badOutputHandler = defineHandler({
  name: 'bad-output',
  version: '1.0.0',
  input: z.object({}).strict(),
  output: z.object({ ok: z.boolean() }),
  timeoutMs: 1_000,
  sideEffects: false,
  run: () => ({ ok: 'yes' }) as unknown as { ok: boolean },
});

/**
 * A handler that ignores its abort signal: it runs on after its 100 ms timeout until the test
 * calls `finish()`.
 */
export function stubbornHandler() {
  let finish: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const handler = defineHandler({
    name: 'stubborn',
    version: '1.0.0',
    input: z.object({}).strict(),
    output: z.object({}),
    timeoutMs: 100,
    sideEffects: true,
    run: async () => {
      await stopped;
      return {};
    },
  });
  return { handler, finish };
}
