/**
 * Differential test: node:crypto (OpenSSL) and tweetnacl are independent Ed25519
 * implementations. The request path verifies with node:crypto (through jose) and
 * packages/receipts offers tweetnacl as the portable verifier, so they must agree on every
 * accept / reject, including on hostile signatures and keys.
 *
 * Finding pinned here: tweetnacl-js 1.0.3 does not check that S < L, so it accepts the
 * malleated signature (R, S + L) that OpenSSL rejects. Any tweetnacl verifier must add the
 * S < L check (as `tweetnaclVerifyStrict` below does); with it, the two agree.
 */
import type { KeyObject } from 'node:crypto';
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { isWeakOrInvalidPublicKey } from './ed25519-point.js';
import { parseKeySet } from './keys.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const leToBig = (b: Uint8Array): bigint => b.reduceRight((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
function bigToLe(x: bigint): Buffer {
  const out = Buffer.alloc(32);
  let v = x;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Encodings of the 8 small-order points, plus non-canonical encodings of identity-ish values. */
const SMALL_ORDER = [
  `01${'00'.repeat(31)}`, // identity, order 1
  `ec${'ff'.repeat(30)}7f`, // y = p - 1, order 2
  '00'.repeat(32), // y = 0, order 4
  `${'00'.repeat(31)}80`, // y = 0 with the sign bit, order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
].map((h) => Buffer.from(h, 'hex'));
const NON_CANONICAL = [`ee${'ff'.repeat(30)}7f`, `ed${'ff'.repeat(30)}7f`].map((h) => Buffer.from(h, 'hex'));

function nodeKey(raw: Uint8Array): KeyObject | undefined {
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
  } catch {
    return undefined;
  }
}

function nodeAccepts(msg: Uint8Array, sig: Uint8Array, pk: Uint8Array): boolean {
  const key = nodeKey(pk);
  if (key === undefined) return false;
  try {
    return nodeVerify(null, msg, key, sig);
  } catch {
    return false;
  }
}

function tweetnaclVerifyStrict(msg: Uint8Array, sig: Uint8Array, pk: Uint8Array): boolean {
  if (sig.length !== 64 || leToBig(sig.subarray(32)) >= L) return false;
  return nacl.sign.detached.verify(msg, sig, pk);
}

type Mutation =
  | { kind: 'none' }
  | { kind: 'flip-sig'; bit: number }
  | { kind: 'flip-msg'; bit: number }
  | { kind: 's-plus-l' }
  | { kind: 'small-order-key'; key: number; r: number; zeroS: boolean }
  | { kind: 'non-canonical-key'; key: number; r: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant<Mutation>({ kind: 'none' }),
  fc.integer({ min: 0, max: 511 }).map((bit): Mutation => ({ kind: 'flip-sig', bit })),
  fc.integer({ min: 0, max: 1023 }).map((bit): Mutation => ({ kind: 'flip-msg', bit })),
  fc.constant<Mutation>({ kind: 's-plus-l' }),
  fc
    .record({ key: fc.nat(SMALL_ORDER.length - 1), r: fc.nat(SMALL_ORDER.length - 1), zeroS: fc.boolean() })
    .map((m): Mutation => ({ kind: 'small-order-key', ...m })),
  fc
    .record({ key: fc.nat(NON_CANONICAL.length - 1), r: fc.nat(SMALL_ORDER.length - 1) })
    .map((m): Mutation => ({ kind: 'non-canonical-key', ...m })),
);

function build(seed: Uint8Array, message: Uint8Array, m: Mutation) {
  const pair = nacl.sign.keyPair.fromSeed(seed);
  let pk: Uint8Array = pair.publicKey;
  const msg = Buffer.from(message);
  let sig = Buffer.from(nacl.sign.detached(msg, pair.secretKey));
  switch (m.kind) {
    case 'none':
      break;
    case 'flip-sig':
      sig[m.bit >> 3] = (sig[m.bit >> 3] ?? 0) ^ (1 << (m.bit & 7));
      break;
    case 'flip-msg':
      if (msg.length > 0) {
        const i = (m.bit >> 3) % msg.length;
        msg[i] = (msg[i] ?? 0) ^ (1 << (m.bit & 7));
      }
      break;
    case 's-plus-l':
      sig = Buffer.concat([sig.subarray(0, 32), bigToLe(leToBig(sig.subarray(32)) + L)]);
      break;
    case 'small-order-key':
      pk = SMALL_ORDER[m.key] ?? SMALL_ORDER[0]!;
      sig = Buffer.concat([
        SMALL_ORDER[m.r] ?? SMALL_ORDER[0]!,
        m.zeroS ? Buffer.alloc(32) : sig.subarray(32),
      ]);
      break;
    case 'non-canonical-key':
      pk = NON_CANONICAL[m.key] ?? NON_CANONICAL[0]!;
      sig = Buffer.concat([SMALL_ORDER[m.r] ?? SMALL_ORDER[0]!, Buffer.alloc(32)]);
      break;
  }
  return { msg, sig, pk };
}

describe('Ed25519: node:crypto and tweetnacl', () => {
  it('agree on accept/reject for valid and mutated signatures (property, 300 runs)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 0, maxLength: 128 }),
        mutation,
        (seed, message, m) => {
          const { msg, sig, pk } = build(seed, message, m);
          const node = nodeAccepts(msg, sig, pk);
          const tweet = tweetnaclVerifyStrict(msg, sig, pk);
          expect({ kind: m.kind, node }).toEqual({ kind: m.kind, node: tweet });
          if (m.kind === 'none') expect(node).toBe(true);
          if (m.kind === 'flip-sig' || m.kind === 's-plus-l') expect(node).toBe(false);
          if (m.kind === 'flip-msg' && msg.length > 0) expect(node).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  }, 180_000); // 300 runs of tweetnacl verification (~13 ms each) must not race CI load

  it('disagree without an S < L check: bare tweetnacl accepts (R, S + L), OpenSSL does not', () => {
    const pair = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7));
    const msg = Buffer.from('approve: echo');
    const sig = Buffer.from(nacl.sign.detached(msg, pair.secretKey));
    const malleated = Buffer.concat([sig.subarray(0, 32), bigToLe(leToBig(sig.subarray(32)) + L)]);
    expect(nacl.sign.detached.verify(msg, malleated, pair.publicKey)).toBe(true);
    expect(nodeAccepts(msg, malleated, pair.publicKey)).toBe(false);
    expect(tweetnaclVerifyStrict(msg, malleated, pair.publicKey)).toBe(false);
  });

  it('both accept a forgery under the identity public key, which is why parseKeySet refuses small-order keys', () => {
    const identity = SMALL_ORDER[0]!;
    const forged = Buffer.concat([identity, Buffer.alloc(32)]); // R = identity, S = 0: no private key needed
    const msg = Buffer.from('any message at all');
    expect(nodeAccepts(msg, forged, identity)).toBe(true);
    expect(nacl.sign.detached.verify(msg, forged, identity)).toBe(true);
    for (const raw of [...SMALL_ORDER, ...NON_CANONICAL]) {
      expect(isWeakOrInvalidPublicKey(raw)).toBe(true);
      const jwks = JSON.stringify({
        keys: [{ kty: 'OKP', crv: 'Ed25519', kid: 'weak', x: raw.toString('base64url') }],
      });
      expect(() => parseKeySet({ jwks })).toThrow(TypeError);
    }
  });
});
