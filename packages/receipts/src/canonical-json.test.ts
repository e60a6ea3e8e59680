import { describe, expect, it } from 'vitest';
import { canonicalJson, parseJsonText } from './canonical-json.js';

describe('canonicalJson', () => {
  it('sorts keys by UTF-16 code units and drops whitespace (RFC 8785 §3.2.3)', () => {
    expect(canonicalJson({ b: 1, a: [true, null, { d: 'x', c: 'y' }], '\u20ac': 0, '\r': 1 })).toBe(
      '{"\\r":1,"a":[true,null,{"c":"y","d":"x"}],"b":1,"€":0}',
    );
  });

  it('serialises numbers the ECMAScript way (RFC 8785 §3.2.2.3)', () => {
    expect(canonicalJson([1e21, 1e-7, -0, 0.000001, Number('333333333.33333329'), 4.5])).toBe(
      '[1e+21,1e-7,0,0.000001,333333333.3333333,4.5]',
    );
  });

  it.each([
    ['undefined in an object', { a: undefined }, '$.a: undefined is not a JSON value'],
    ['a function', { f: () => 1 }, '$.f: function is not a JSON value'],
    ['NaN', [Number.NaN], '$[0]: NaN is not a JSON number'],
    ['a Date (toJSON would be called)', { at: new Date(0) }, '$.at: only plain objects are JSON (got Date)'],
    ['a bigint', { n: 1n }, '$.n: bigint is not a JSON value'],
    ['a lone surrogate', { s: '\ud800' }, '$.s: string contains a lone surrogate'],
  ])('throws TypeError for %s', (_name, value, message) => {
    expect(() => canonicalJson(value)).toThrow(expect.objectContaining({ name: 'TypeError', message }));
  });

  it('throws TypeError for a circular structure', () => {
    const a: Record<string, unknown> = {};
    a.self = a;
    expect(() => canonicalJson(a)).toThrow(
      expect.objectContaining({ name: 'TypeError', message: '$.self: circular reference' }),
    );
  });

  it('accepts an object seen twice without a cycle', () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });
});

describe('parseJsonText', () => {
  it('parses JSON', () => {
    expect(parseJsonText('{"a":[1,{"b":"}"}]}')).toEqual({ ok: true, value: { a: [1, { b: '}' }] } });
  });

  it('rejects a duplicated key, even when spelled with an escape', () => {
    expect(parseJsonText('{"outcome":"failed","x":{"a":1},"\\u006futcome":"succeeded"}')).toEqual({
      ok: false,
      message: 'duplicate key "outcome"',
    });
  });

  it('allows the same key in sibling objects and array elements', () => {
    expect(parseJsonText('[{"a":1},{"a":2,"b":{"a":3}}]').ok).toBe(true);
  });

  it('reports invalid JSON', () => {
    expect(parseJsonText('{"a":')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/^not valid JSON/),
    });
  });
});
