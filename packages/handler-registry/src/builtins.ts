import { z } from 'zod';
import { defineHandler } from './define.js';

const jsonObject = z.record(z.string(), z.unknown());

/** Same result as the Python service: `{"echo": payload}`. */
export const echoHandler = defineHandler({
  name: 'echo',
  version: '1.0.0',
  description: 'Returns its payload unchanged under "echo".',
  input: jsonObject,
  output: z.object({ echo: jsonObject }).strict(),
  timeoutMs: 1_000,
  sideEffects: false,
  run: (payload) => ({ echo: payload }),
});

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/** Adds two numbers: `{"sum": a + b}`. */
export const addHandler = defineHandler({
  name: 'add',
  version: '1.0.0',
  description: 'Adds the numbers "a" and "b".',
  // A sum that overflows is refused as input (400), before the nonce is spent on a failed run.
  input: z
    .object({ a: finite, b: finite })
    .strict()
    .refine(({ a, b }) => Number.isFinite(a + b), { message: 'a + b must be a finite number', path: ['b'] }),
  output: z.object({ sum: finite }).strict(),
  timeoutMs: 1_000,
  sideEffects: false,
  run: ({ a, b }) => ({ sum: a + b }),
});

export const builtinHandlers = Object.freeze([echoHandler, addHandler]);
