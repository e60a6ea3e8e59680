import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson, payloadDigest } from './canonical-json.js';
import { parseStrictJson } from './strict-json.js';

describe('canonicalJson (RFC 8785)', () => {
  describe('with the RFC 8785 §3.2.2 example', () => {
    it('produces the published canonical form', () => {
      // Input text of RFC 8785 §3.2.2 (numbers written as in the RFC).
      const input = JSON.parse(`{
        "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\"\\/",
        "literals": [null, true, false]
      }`);
      expect(canonicalJson(input)).toBe(
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
          '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
      );
    });
  });

  describe('with the RFC 8785 §3.2.3 sorting example', () => {
    it('sorts member names by UTF-16 code units', () => {
      const input = {
        '\u20ac': 'Euro Sign',
        '\r': 'Carriage Return',
        '\ufb33': 'Hebrew Letter Dalet With Dagesh',
        '1': 'One',
        '\ud83d\ude00': 'Emoji: Grinning Face',
        '\u0080': 'Control',
        '\u00f6': 'Latin Small Letter O With Diaeresis',
      };
      expect(canonicalJson(input)).toBe(
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
          '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
      );
    });
  });

  describe('with the RFC 8785 Appendix B number table', () => {
    it.each([
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ])('serialises IEEE-754 %s as %s', (bits, expected) => {
      expect(canonicalJson(Buffer.from(bits, 'hex').readDoubleBE(0))).toBe(expected);
    });

    it.each([
      ['1e30', 1e30, '1e+30'],
      ['4.50', 4.5, '4.5'],
      ['2e-3', 2e-3, '0.002'],
      ['1e-27', 1e-27, '1e-27'],
      ['-0', -0, '0'],
    ])('serialises %s as %s', (_label, value, expected) => {
      expect(canonicalJson(value)).toBe(expected);
    });
  });

  describe('with ordinary payloads', () => {
    it('is independent of member insertion order', () => {
      expect(canonicalJson({ b: 1, a: { d: [1, 2], c: null } })).toBe(
        canonicalJson({ a: { c: null, d: [1, 2] }, b: 1 }),
      );
      expect(canonicalJson({ b: 1, a: 2 })).toBe('{"a":2,"b":1}');
    });

    it('keeps a "__proto__" member as data', () => {
      const value = parseStrictJson('{"__proto__":{"x":1},"a":1}');
      expect(canonicalJson(value)).toBe('{"__proto__":{"x":1},"a":1}');
    });

    it('accepts null-prototype objects', () => {
      const value = Object.assign(Object.create(null) as Record<string, unknown>, { z: 1, a: 2 });
      expect(canonicalJson(value)).toBe('{"a":2,"z":1}');
    });

    it('round-trips through JSON.parse for arbitrary JSON values (property)', () => {
      fc.assert(
        fc.property(fc.jsonValue(), (value) => {
          const text = canonicalJson(value);
          expect(canonicalJson(JSON.parse(text))).toBe(text);
        }),
        { numRuns: 300 },
      );
    });
  });

  describe('when the value is not I-JSON', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    it.each([
      ['undefined', undefined],
      ['a member set to undefined', { a: undefined }],
      ['a function', () => 1],
      ['a bigint', 1n],
      ['NaN', Number.NaN],
      ['Infinity', Number.NEGATIVE_INFINITY],
      ['a lone high surrogate', 'a\ud800'],
      ['a lone low surrogate in a key', { '\udc00': 1 }],
      ['a Date', new Date(0)],
      ['a Map', new Map([[1, 2]])],
      ['a Buffer', Buffer.from('x')],
      ['a class instance', new (class Point {})()],
      ['a sparse array', new Array(3)],
      ['an object with a toJSON method', { toJSON: () => 'x' }],
      ['a circular reference', circular],
    ])('throws TypeError for %s', (_label, value) => {
      expect(() => canonicalJson(value)).toThrow(TypeError);
    });

    it('names where the refused value is', () => {
      const self: Record<string, unknown> = {};
      self.self = self;
      const deep: unknown[] = [];
      let cursor = deep;
      for (let i = 0; i < 200; i++) cursor = cursor[0] = [] as unknown[];
      for (const [value, message] of [
        [{ a: [1, { b: undefined }] }, 'value at .a[1].b is not JSON (undefined)'],
        [[1, Number.NaN], 'value at [1] is not a finite number'],
        [{ x: { y: new Date(0) } }, 'value at .x.y is not a plain object'],
        [{ k: [self] }, 'value at .k[0].self is a circular reference'],
        [{ l: Object.assign(new Array<number>(2), { 0: 0 }) }, 'value at .l[1] is a hole'],
        [{ m: { '\udc00': 1 } }, 'a member name in value at .m contains a lone surrogate'],
        [undefined, 'the value is not JSON (undefined)'],
        [deep, `value at ${'[0]'.repeat(128)} is nested too deeply`],
      ] as const) {
        expect(() => canonicalJson(value)).toThrow(message);
      }
      // The same value is accepted again after a refusal: nothing of the last path is left over.
      expect(canonicalJson({ a: [1, { b: 2 }] })).toBe('{"a":[1,{"b":2}]}');
    });

    it('accepts a well-formed surrogate pair', () => {
      expect(canonicalJson('\ud83d\ude00')).toBe('"\ud83d\ude00"');
    });
  });
});

describe('payloadDigest', () => {
  it('is base64url SHA-256 of the canonical JSON', () => {
    const expected = createHash('sha256').update('{"a":1,"b":"\u00e9"}', 'utf8').digest('base64url');
    expect(payloadDigest({ b: '\u00e9', a: 1 })).toBe(expected);
    expect(payloadDigest({})).toBe('RBNvo1WzZ4oRRq0W9-hknpT7T8If536DEMBg9hyq_4o');
  });

  it('distinguishes NFC and NFD spellings', () => {
    expect(payloadDigest({ s: 'caf\u00e9' })).not.toBe(payloadDigest({ s: 'cafe\u0301' }));
  });
});

describe('parseStrictJson', () => {
  it('parses what JSON.parse parses (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        expect(parseStrictJson(text)).toStrictEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ['a duplicate member', '{"a":1,"a":1}'],
    ['a nested duplicate member', '{"x":{"a":1,"b":2,"a":3}}'],
    ['a duplicate spelled with an escape', '{"a":1,"\\u0061":2}'],
    ['trailing data', '{} x'],
    ['a trailing comma', '[1,]'],
    ['a leading zero', '01'],
    ['a raw control character', '"a\nb"'],
    ['a bad escape', '"\\x41"'],
    ['a lone high surrogate', '{"jti":"\\ud800abc"}'],
    ['a lone low surrogate in a member name', '{"\\udc00":1}'],
    ['a byte-order mark', '\ufeff{}'],
    ['NaN', 'NaN'],
    ['a number overflowing to Infinity', '1e400'],
    ['excessive nesting', `${'['.repeat(40)}${']'.repeat(40)}`],
  ])('refuses %s', (_label, text) => {
    expect(() => parseStrictJson(text)).toThrow(SyntaxError);
  });

  it('keeps a surrogate pair, raw or escaped', () => {
    expect(parseStrictJson('["\\ud83d\\ude00","\u{1F600}"]')).toEqual(['\u{1F600}', '\u{1F600}']);
  });
});
