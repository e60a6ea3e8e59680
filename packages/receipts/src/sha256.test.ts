import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hexEncode, utf8 } from './encoding.js';
import { sha256 } from './sha256.js';

describe('sha256 (portable JavaScript implementation)', () => {
  it.each([
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [
      'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq',
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    ],
  ])('matches the FIPS 180-4 vector for %j', (input, digest) => {
    expect(hexEncode(sha256(utf8(input)))).toBe(digest);
  });

  it('matches the FIPS 180-4 vector for one million "a"', () => {
    expect(hexEncode(sha256(new Uint8Array(1_000_000).fill(0x61)))).toBe(
      'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
    );
  });

  it('agrees with node:crypto on arbitrary input, across block boundaries', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(hexEncode(sha256(bytes))).toBe(createHash('sha256').update(bytes).digest('hex'));
      }),
      { numRuns: 500 },
    );
  });

  it('hashes a view into a larger buffer by its own bytes only', () => {
    const big = utf8('xxabcxx');
    expect(hexEncode(sha256(big.subarray(2, 5)))).toBe(hexEncode(sha256(utf8('abc'))));
  });
});
