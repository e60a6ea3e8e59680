import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64urlDecode, base64urlEncode, hexEncode } from './encoding.js';

describe('base64url', () => {
  it('agrees with Buffer on arbitrary bytes and round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const text = base64urlEncode(bytes);
        expect(text).toBe(Buffer.from(bytes).toString('base64url'));
        expect(base64urlDecode(text)).toEqual(bytes);
      }),
    );
  });

  it.each([
    ['padding', 'AAA='],
    ['the standard alphabet', 'ab+/'],
    ['whitespace', 'AA AA'],
    ['an impossible length', 'AAAAA'],
    ['non-zero trailing bits (a second spelling of the same bytes)', 'AB'],
    ['non-ASCII', 'AAé'],
  ])('rejects %s', (_name, text) => {
    expect(base64urlDecode(text)).toBeNull();
  });
});

describe('hexEncode', () => {
  it('writes lower-case hex', () => {
    expect(hexEncode(Uint8Array.from([0, 15, 16, 255]))).toBe('000f10ff');
  });
});
