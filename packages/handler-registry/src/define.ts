import type { z } from 'zod';
import { HandlerRegistryError } from './errors.js';

export interface HandlerContext {
  /** Aborted when the handler's timeout passes or the service shuts down. */
  readonly signal: AbortSignal;
  readonly executionId: string;
  readonly tenant: string;
  readonly nonce: string;
}

export interface HandlerDefinition<I extends z.ZodType, O extends z.ZodType> {
  name: string;
  version: string;
  description?: string;
  input: I;
  output: O;
  timeoutMs: number;
  sideEffects: boolean;
  run(input: z.output<I>, ctx: HandlerContext): Promise<z.input<O>> | z.input<O>;
}

export type Handler = Readonly<HandlerDefinition<z.ZodType, z.ZodType>>;

// Action names travel in URLs, logs and approvals: keep them boring.
const ACTION_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;

export function defineHandler<I extends z.ZodType, O extends z.ZodType>(
  definition: HandlerDefinition<I, O>,
): Handler {
  if (!ACTION_NAME.test(definition.name)) {
    throw new HandlerRegistryError(
      'ERR_HANDLER_INVALID_NAME',
      `handler name ${JSON.stringify(definition.name)} must match ${ACTION_NAME}`,
    );
  }
  if (!Number.isInteger(definition.timeoutMs) || definition.timeoutMs <= 0) {
    throw new HandlerRegistryError(
      'ERR_HANDLER_INVALID_DEFINITION',
      `handler ${definition.name}: timeoutMs must be a positive integer`,
    );
  }
  if (typeof definition.run !== 'function') {
    throw new HandlerRegistryError(
      'ERR_HANDLER_INVALID_DEFINITION',
      `handler ${definition.name}: run must be a function`,
    );
  }
  return Object.freeze({ ...definition }) as Handler;
}
