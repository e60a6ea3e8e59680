import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { legacyActionHash } from './legacy.js';
import { compareCodePoints, pythonFloatRepr, pythonJsonDumps } from './python-json.js';

// Every expected string below is the output of CPython 3.11 `json.dumps` (checked by hand
// against Lib/json/encoder.py and float_repr_style 'short').
const COMPACT = { sortKeys: true, separators: [',', ':'] as [string, string] };

/** [IEEE-754 bits, CPython repr(float)] */
const FLOAT_REPR_VECTORS: [string, string][] = [
  ['b3d432ef707050e7', '-5.02793897365748e-59'],
  ['ea232e95049f6dc4', '-1.8794038050047782e+203'],
  ['7fb0a5a5c3e2ad5c', '1.1689963516710327e+307'],
  ['931e59db6a3460e9', '-1.3756761126028206e-216'],
  ['af1e42b547b36c2f', '-9.96915655096915e-82'],
  ['3fa4933936dc6a21', '0.04018572611513017'],
  ['d1c89c8263ec4cb0', '-9.562346480129106e+85'],
  ['17fac9bfd4f1bb02', '3.669648223435266e-193'],
  ['463ce3a59131f193', '2.288841806053521e+30'],
  ['cf974b547a22df32', '-2.634073021688141e+75'],
  ['e7e229f94cea7608', '-2.5897496914530976e+192'],
  ['2a3652124a6bac41', '2.4330286748811588e-105'],
  ['3056d31d87ef2bfd', '7.884707671321887e-76'],
  ['43e72b22ed9c8d00', '1.3355731926399844e+19'],
  ['4cdf8c4da633cc01', '2.0278311027403974e+62'],
  ['dd8d5857e2ce258c', '-4.473046650003945e+142'],
  ['1e3ebaa09843dbd2', '5.336186130365805e-163'],
  ['abc41e709d10acc3', '-7.358609826747707e-98'],
  ['37e45c4b34380dd8', '1.869818687813732e-39'],
  ['b6119f7a3aa80360', '-3.0145294347117405e-48'],
  ['a6f4fcf3e62fab06', '-5.079895826507493e-121'],
  ['9651aaa4cde5978b', '-3.6062457693943185e-201'],
  ['0f36ccf38add66c5', '2.240936274931638e-235'],
  ['0f90eba328ef5146', '1.0643280237031127e-233'],
  ['3bdd720acfcfa8e6', '2.494128956845254e-20'],
  ['cdcfe48d647fc608', '-6.717404021199988e+66'],
  ['f2846b7aeacf5e8e', '-4.357114132154027e+243'],
  ['b961bfd091033d86', '-2.734709005303131e-32'],
  ['ae8f377e458e217a', '-2.0086265490325975e-84'],
  ['d6d28dbdac533326', '-1.742963872807937e+110'],
  ['3e8091b5aeffdb8d', '1.2344999999999998e-07'],
  ['3eb4b6231abfd270', '1.2344999999999998e-06'],
  ['3ee9e3abe16fc70d', '1.2345e-05'],
  ['3f202e4b6ce5dc68', '0.00012345'],
  ['3f5439de481f5382', '0.0012345'],
  ['3fbf9a6b50b0f27c', '0.12345'],
  ['3ff3c083126e978d', '1.2345'],
  ['4028b0a3d70a3d70', '12.344999999999999'],
  ['40fe23a000000000', '123450.0'],
  ['42dc11bc59710000', '123450000000000.0'],
  ['43118b15b7e6a000', '1234500000000000.0'],
  ['4345eddb25e04800', '1.2345e+16'],
  ['437b6951ef585a00', '1.2345e+17'],
  ['3fe0000000000000', '0.5'],
  ['3fd5555555555555', '0.3333333333333333'],
  ['3fe5555555555555', '0.6666666666666666'],
  ['3e7ad7f29abcaf48', '1e-07'],
  ['3f18e757928e0c9e', '9.5e-05'],
  ['3f1f75104d551d69', '0.00012'],
  ['42dc12218377de6b', '123456789012345.67'],
  ['432fffffffffffff', '4503599627370495.5'],
  ['0010000000000000', '2.2250738585072014e-308'],
];

describe('pythonJsonDumps', () => {
  describe('with default options (separators ", " and ": ", ensure_ascii, insertion order)', () => {
    it('serialises nested values like json.dumps', () => {
      const value = { b: [1, 2, { z: null, a: true }], a: { y: false, x: 's' } };
      expect(pythonJsonDumps(value)).toBe(
        '{"b": [1, 2, {"z": null, "a": true}], "a": {"y": false, "x": "s"}}',
      );
    });

    it('serialises empty containers and strings', () => {
      expect(pythonJsonDumps({ a: {}, b: [], c: '' })).toBe('{"a": {}, "b": [], "c": ""}');
      expect(pythonJsonDumps([])).toBe('[]');
      expect(pythonJsonDumps({})).toBe('{}');
    });

    it('escapes non-ASCII as lowercase \\uXXXX', () => {
      const value = { name: 'caf\u00e9', city: 'M\u00fcnchen', jp: '\u65e5\u672c' };
      expect(pythonJsonDumps(value)).toBe(
        '{"name": "caf\\u00e9", "city": "M\\u00fcnchen", "jp": "\\u65e5\\u672c"}',
      );
    });

    it('escapes astral characters (emoji) as a surrogate pair', () => {
      expect(pythonJsonDumps({ e: '\u{1F600}', k: 'a\u{1F680}b' })).toBe(
        '{"e": "\\ud83d\\ude00", "k": "a\\ud83d\\ude80b"}',
      );
    });

    it('escapes control characters, 0x7f, quote and backslash like ESCAPE_DCT', () => {
      const value = { s: '\x00\x01\x1f\x7f\x80"\\\n\r\t\b\f/ end' };
      expect(pythonJsonDumps(value)).toBe(
        '{"s": "\\u0000\\u0001\\u001f\\u007f\\u0080\\"\\\\\\n\\r\\t\\b\\f/ end"}',
      );
    });

    it('escapes a lone surrogate like Python does for a str holding one', () => {
      expect(pythonJsonDumps('\ud800x')).toBe('"\\ud800x"');
    });

    it('prints integers as Python ints, including big ones (bigint keeps exact digits)', () => {
      expect(pythonJsonDumps([0, -1, 9007199254740991])).toBe('[0, -1, 9007199254740991]');
      expect(pythonJsonDumps([12345678901234567890n, -12345678901234567890n])).toBe(
        '[12345678901234567890, -12345678901234567890]',
      );
    });

    it('prints floats with Python repr', () => {
      const value = [1.5, 0.0001, 1e-5, -0, 0.1, 2.5e-7, 123456.789, -1.25, 0.1 + 0.2, 5e-324];
      expect(pythonJsonDumps(value)).toBe(
        '[1.5, 0.0001, 1e-05, -0.0, 0.1, 2.5e-07, 123456.789, -1.25, 0.30000000000000004, 5e-324]',
      );
    });

    it('prints integral numbers as ints: JS cannot tell 1e16 or 1.0 from an int (documented)', () => {
      // CPython: json.dumps(1e16) == '1e+16' but json.dumps(10**16) == '10000000000000000'.
      expect(pythonJsonDumps([1e16, 1e21, 1.0])).toBe('[10000000000000000, 1000000000000000000000, 1]');
    });
  });

  describe('with sortKeys', () => {
    it('sorts nested keys', () => {
      const value = { b: [1, 2, { z: null, a: true }], a: { y: false, x: 's' } };
      expect(pythonJsonDumps(value, { sortKeys: true })).toBe(
        '{"a": {"x": "s", "y": false}, "b": [1, 2, {"a": true, "z": null}]}',
      );
    });

    it('sorts by code point, putting an astral key after U+FB33 (UTF-16 order would not)', () => {
      const value = { '\ufb33': 1, '\u{1F600}': 2, '\ue000': 3, a: 4 };
      expect(pythonJsonDumps(value, { sortKeys: true })).toBe(
        '{"a": 4, "\\ue000": 3, "\\ufb33": 1, "\\ud83d\\ude00": 2}',
      );
      expect(pythonJsonDumps(value, COMPACT)).toBe('{"a":4,"\\ue000":3,"\\ufb33":1,"\\ud83d\\ude00":2}');
    });

    it('matches the legacy receipt form json.dumps(result, sort_keys=True)', () => {
      expect(pythonJsonDumps({ echo: { msg: 'hi' }, sum: 3 }, { sortKeys: true })).toBe(
        '{"echo": {"msg": "hi"}, "sum": 3}',
      );
    });
  });

  describe('with ensureAscii false', () => {
    it('keeps non-ASCII and 0x7f raw but still escapes controls', () => {
      const value = { s: '\x00\x1f\x7f\x80"\\\n caf\u00e9 \u{1F600}' };
      expect(pythonJsonDumps(value, { ensureAscii: false })).toBe(
        '{"s": "\\u0000\\u001f\x7f\x80\\"\\\\\\n caf\u00e9 \u{1F600}"}',
      );
    });
  });

  describe('when the value is not JSON', () => {
    it.each([
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['undefined', undefined],
      ['a function', () => 1],
      ['a symbol', Symbol('x')],
      ['a Date', new Date(0)],
      ['a Map', new Map()],
      ['a nested NaN', { a: [Number.NaN] }],
    ])('throws TypeError for %s', (_label, value) => {
      expect(() => pythonJsonDumps(value)).toThrow(TypeError);
    });

    it('throws TypeError on a circular reference', () => {
      const a: Record<string, unknown> = {};
      a.self = a;
      expect(() => pythonJsonDumps(a)).toThrow(/Circular/);
    });
  });
});

describe('pythonFloatRepr', () => {
  it.each(FLOAT_REPR_VECTORS)('formats %s as CPython repr %s', (bits, expected) => {
    const value = Buffer.from(bits, 'hex').readDoubleBE(0);
    expect(pythonFloatRepr(value)).toBe(expected);
  });

  it('switches to exponent notation outside -4 <= exp < 16', () => {
    expect(pythonFloatRepr(1e16)).toBe('1e+16');
    expect(pythonFloatRepr(1e21)).toBe('1e+21');
    expect(pythonFloatRepr(1e15)).toBe('1000000000000000.0');
    expect(pythonFloatRepr(1e-4)).toBe('0.0001');
    expect(pythonFloatRepr(1e-5)).toBe('1e-05');
    expect(pythonFloatRepr(1.0)).toBe('1.0');
    expect(pythonFloatRepr(-0)).toBe('-0.0');
    expect(pythonFloatRepr(0)).toBe('0.0');
    expect(pythonFloatRepr(1e300)).toBe('1e+300');
  });

  it('round-trips every finite double and uses the Python shape (property)', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
        const repr = pythonFloatRepr(x);
        expect(Object.is(Number(repr), x) || (x === 0 && Number(repr) === 0)).toBe(true);
        expect(repr).toMatch(/^-?(?:\d+\.\d+|\d(?:\.\d+)?e[+-]\d{2,3})$/);
      }),
      { numRuns: 500 },
    );
  });
});

describe('compareCodePoints', () => {
  it('orders by code point where UTF-16 order differs', () => {
    expect(compareCodePoints('\u{1F600}', '\ufb33')).toBeGreaterThan(0);
    expect('\u{1F600}' < '\ufb33').toBe(true); // UTF-16 code-unit order says the opposite
    expect(compareCodePoints('a', 'b')).toBeLessThan(0);
    expect(compareCodePoints('ab', 'a')).toBeGreaterThan(0);
    expect(compareCodePoints('x', 'x')).toBe(0);
  });
});

describe('legacyActionHash', () => {
  it('hashes {"action","payload"} like the Python service (ASCII payload)', () => {
    // sha256(b'{"action":"echo","payload":{"msg":"hello"}}')
    expect(legacyActionHash('echo', { msg: 'hello' })).toBe(
      'b39f7741265bfb502d44159aa14f2ab6cea65973b18c903e2e1e34c6d860dc88',
    );
  });

  it('hashes an empty payload like the Python service', () => {
    // sha256(b'{"action":"echo","payload":{}}')
    expect(legacyActionHash('echo', {})).toBe(
      '4d9b97d6e60f36b9c5d3107933b358b55c858aa5814c742b4783ce871e2ca981',
    );
  });

  it('hashes a non-ASCII payload over the \\u-escaped Python string', () => {
    const payload = { msg: 'h\u00e9llo \u{1F600}', n: 1, list: [1.5, '\u20ac'] };
    expect(pythonJsonDumps({ action: 'echo', payload }, COMPACT)).toBe(
      '{"action":"echo","payload":{"list":[1.5,"\\u20ac"],"msg":"h\\u00e9llo \\ud83d\\ude00","n":1}}',
    );
    expect(legacyActionHash('echo', payload)).toBe(
      '3c80644befa2f9d563a57bf00a0181f046933c319e4610b8fb9c9b60d01e9b33',
    );
  });
});
