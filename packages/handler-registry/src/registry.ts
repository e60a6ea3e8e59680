import { z } from 'zod';
import type { Handler } from './define.js';
import { HandlerRegistryError } from './errors.js';

// Names that would collide with routes, prototypes or future built-ins.
const RESERVED_NAMES = new Set([
  '__proto__',
  'constructor',
  'prototype',
  'health',
  'ready',
  'version',
  'execute',
  'receipts',
  'actions',
  'metrics',
]);

export interface ActionDescription {
  name: string;
  version: string;
  description: string | null;
  sideEffects: boolean;
  timeoutMs: number;
  inputSchema: unknown;
  outputSchema: unknown;
}

export interface HandlerRegistry {
  /** The handler for an allowed action, or undefined (unknown or not allowed). */
  get(name: string): Handler | undefined;
  /** Registered at all (used to tell "unknown" from "not allowed"). */
  has(name: string): boolean;
  readonly names: readonly string[];
  readonly allowed: readonly string[] | null;
  describe(): ActionDescription[];
}

export interface CreateRegistryOptions {
  /** OPENEXEC_ALLOWED_ACTIONS; null means every registered action is allowed. */
  allowed?: readonly string[] | null;
}

/** Builds the registry once at start-up; the result is frozen and never changes. */
export function createRegistry(
  handlers: readonly Handler[],
  options: CreateRegistryOptions = {},
): HandlerRegistry {
  const byName: Record<string, Handler> = Object.create(null);
  for (const handler of handlers) {
    if (RESERVED_NAMES.has(handler.name)) {
      throw new HandlerRegistryError('ERR_HANDLER_RESERVED_NAME', `handler name ${handler.name} is reserved`);
    }
    if (byName[handler.name]) {
      throw new HandlerRegistryError('ERR_HANDLER_DUPLICATE', `handler ${handler.name} is registered twice`);
    }
    byName[handler.name] = handler;
  }
  const allowed = options.allowed ?? null;
  if (allowed) {
    // An allow-list naming a missing action is a typo that would silently block traffic.
    const unknown = allowed.filter((name) => !byName[name]);
    if (unknown.length > 0) {
      throw new HandlerRegistryError(
        'ERR_HANDLER_UNKNOWN_ALLOWED',
        `allowed actions not registered: ${unknown.join(', ')} (registered: ${Object.keys(byName).join(', ')})`,
      );
    }
  }
  const allowedSet = allowed ? new Set(allowed) : null;
  const names = Object.freeze(Object.keys(byName).sort());
  const descriptions = names
    .filter((name) => !allowedSet || allowedSet.has(name))
    .map((name) => describeHandler(byName[name] as Handler));
  Object.freeze(byName);

  return Object.freeze({
    get: (name: string) => (allowedSet && !allowedSet.has(name) ? undefined : byName[name]),
    has: (name: string) => byName[name] !== undefined,
    names,
    allowed: allowed ? Object.freeze([...allowed]) : null,
    describe: () => structuredClone(descriptions),
  });
}

function describeHandler(handler: Handler): ActionDescription {
  return {
    name: handler.name,
    version: handler.version,
    description: handler.description ?? null,
    sideEffects: handler.sideEffects,
    timeoutMs: handler.timeoutMs,
    inputSchema: z.toJSONSchema(handler.input, { io: 'input', unrepresentable: 'any' }),
    outputSchema: z.toJSONSchema(handler.output, { io: 'output', unrepresentable: 'any' }),
  };
}
