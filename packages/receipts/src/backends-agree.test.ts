// The two Ed25519 implementations must agree on every accept/reject (SPEC §1): every
// verification case runs through both and the answers are compared whole.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ChainVerification,
  nodeCryptoBackend,
  type ReceiptVerification,
  tweetnaclBackend,
  verifyChain,
  verifyReceipt,
} from './index.js';
import { buildChainCases, buildReceiptCases } from './test-support/cases.js';
import { makeChain } from './test-support/chain.js';
import { hasCanonicalScalar } from './verify.js';

const answer = (r: ReceiptVerification | ChainVerification) => ({
  valid: r.valid,
  problems: r.problems.map((p) => ({ code: p.code, seq: p.seq, message: p.message })),
});

describe('node:crypto and tweetnacl backends', () => {
  it.each(buildChainCases())('agree on the chain case: $name', ({ receipts, keys, options }) => {
    const viaNode = verifyChain(receipts, keys, { ...options, backend: nodeCryptoBackend });
    const viaNacl = verifyChain(receipts, keys, { ...options, backend: tweetnaclBackend });
    expect(answer(viaNacl)).toEqual(answer(viaNode));
    expect(viaNacl.head).toEqual(viaNode.head);
  });

  it.each(buildReceiptCases())('agree on the receipt case: $name', ({ receipt, keys }) => {
    const viaNode = verifyReceipt(receipt, keys, { backend: nodeCryptoBackend });
    const viaNacl = verifyReceipt(receipt, keys, { backend: tweetnaclBackend });
    expect(answer(viaNacl)).toEqual(answer(viaNode));
    expect(viaNacl.hash).toBe(viaNode.hash);
  });

  it('agree on receipts with random bytes of the signature changed', () => {
    const { receipts, jwks } = makeChain(1);
    const sig = Buffer.from(receipts[0]!.sig, 'base64url');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: 255 }), (index, value) => {
        const bytes = Buffer.from(sig);
        bytes[index] = value;
        const receipt = { ...receipts[0]!, sig: bytes.toString('base64url') };
        const viaNode = verifyReceipt(receipt, jwks, { backend: nodeCryptoBackend });
        const viaNacl = verifyReceipt(receipt, jwks, { backend: tweetnaclBackend });
        expect(answer(viaNacl)).toEqual(answer(viaNode));
        expect(viaNode.valid).toBe(bytes.equals(sig));
      }),
      { numRuns: 60 },
    );
  });

  it('agree on raw verification with arbitrary keys and signatures (canonical S)', () => {
    const message = new TextEncoder().encode('openexec-receipt-v1\n{}');
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 64, maxLength: 64 }),
        (key, sig) => {
          fc.pre(hasCanonicalScalar(sig));
          expect(tweetnaclBackend.verifyEd25519(key, message, sig)).toBe(
            nodeCryptoBackend.verifyEd25519(key, message, sig),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('produce identical SHA-256 digests', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(tweetnaclBackend.sha256(bytes)).toEqual(nodeCryptoBackend.sha256(bytes));
      }),
    );
  });
});
