import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { addHandler, builtinHandlers, echoHandler } from './builtins.js';
import { defineHandler } from './define.js';
import { createRegistry } from './registry.js';

const noop = (name: string) =>
  defineHandler({
    name,
    version: '1',
    input: z.object({}),
    output: z.object({}),
    timeoutMs: 10,
    sideEffects: false,
    run: () => ({}),
  });

describe('defineHandler', () => {
  it('rejects a name that is not a plain action name with ERR_HANDLER_INVALID_NAME', () => {
    for (const name of ['', 'Echo', '../etc', 'a b', 'x'.repeat(65)]) {
      expect(() => noop(name)).toThrow(expect.objectContaining({ code: 'ERR_HANDLER_INVALID_NAME' }));
    }
  });

  it('rejects a non-positive timeout with ERR_HANDLER_INVALID_DEFINITION', () => {
    expect(() =>
      defineHandler({
        name: 'x',
        version: '1',
        input: z.object({}),
        output: z.object({}),
        timeoutMs: 0,
        sideEffects: false,
        run: () => ({}),
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_HANDLER_INVALID_DEFINITION' }));
  });

  it('returns a frozen handler', () => {
    expect(Object.isFrozen(echoHandler)).toBe(true);
  });
});

describe('createRegistry', () => {
  it('rejects a duplicate name with ERR_HANDLER_DUPLICATE', () => {
    expect(() => createRegistry([noop('a'), noop('a')])).toThrow(
      expect.objectContaining({ code: 'ERR_HANDLER_DUPLICATE' }),
    );
  });

  it('rejects a reserved name with ERR_HANDLER_RESERVED_NAME', () => {
    expect(() => createRegistry([noop('health')])).toThrow(
      expect.objectContaining({ code: 'ERR_HANDLER_RESERVED_NAME' }),
    );
  });

  it('rejects an allow-list naming an unregistered action with ERR_HANDLER_UNKNOWN_ALLOWED', () => {
    expect(() => createRegistry(builtinHandlers, { allowed: ['echo', 'ehco'] })).toThrow(
      expect.objectContaining({
        code: 'ERR_HANDLER_UNKNOWN_ALLOWED',
        message: expect.stringContaining('ehco'),
      }),
    );
  });

  it('returns only allowed handlers but still knows the others exist', () => {
    const registry = createRegistry(builtinHandlers, { allowed: ['echo'] });
    expect(registry.get('echo')).toBe(echoHandler);
    expect(registry.get('add')).toBeUndefined();
    expect(registry.has('add')).toBe(true);
    expect(registry.has('rm')).toBe(false);
  });

  it('does not resolve names through the prototype chain', () => {
    const registry = createRegistry(builtinHandlers);
    for (const name of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(registry.get(name)).toBeUndefined();
      expect(registry.has(name)).toBe(false);
    }
  });

  it('is frozen: nothing can be added or replaced at run time', () => {
    const registry = createRegistry(builtinHandlers);
    expect(Object.isFrozen(registry)).toBe(true);
    expect(() => {
      (registry as unknown as { get: unknown }).get = () => noop('evil');
    }).toThrow(TypeError);
    expect(Object.isFrozen(registry.names)).toBe(true);
  });

  it('describes each allowed action with input and output JSON Schemas', () => {
    const [add] = createRegistry(builtinHandlers, { allowed: ['add'] }).describe();
    expect(add).toMatchObject({
      name: 'add',
      sideEffects: false,
      inputSchema: {
        type: 'object',
        properties: { a: { type: 'number' }, b: { type: 'number' } },
        required: ['a', 'b'],
      },
      outputSchema: { type: 'object', properties: { sum: { type: 'number' } } },
    });
  });
});

describe('built-in handlers', () => {
  const ctx = { signal: new AbortController().signal, executionId: 'e', tenant: 't', nonce: 'n' };
  it('echo returns {"echo": payload} like the Python service', async () => {
    expect(await echoHandler.run({ msg: 'hello', n: [1, { a: null }] }, ctx)).toEqual({
      echo: { msg: 'hello', n: [1, { a: null }] },
    });
  });

  it('add returns {"sum": a + b}', async () => {
    expect(await addHandler.run({ a: 2, b: 3 }, ctx)).toEqual({ sum: 5 });
    expect(addHandler.input.safeParse({ a: '2', b: 3 }).success).toBe(false);
    expect(addHandler.input.safeParse({ a: 1, b: 2, c: 3 }).success).toBe(false);
  });

  it('add refuses as input a sum that overflows, so no nonce is spent on a failed run', () => {
    const overflow = addHandler.input.safeParse({ a: 1e308, b: 1e308 });
    expect(overflow.success).toBe(false);
    expect(overflow.error?.issues[0]).toMatchObject({
      path: ['b'],
      message: 'a + b must be a finite number',
    });
    expect(addHandler.input.safeParse({ a: 1e308, b: -1e308 }).success).toBe(true);
  });
});
