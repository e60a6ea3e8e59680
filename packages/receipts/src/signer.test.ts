import { createHash, createPrivateKey, generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  createChainSealer,
  createReceiptSigner,
  generateSigningKey,
  genesisHash,
  jwkThumbprint,
  nextReceipt,
  RECEIPT_GENESIS_PREFIX,
  RECEIPT_HASH_PREFIX,
  RECEIPT_OUTCOMES,
  RECEIPT_SIGNING_PREFIX,
  receiptHash,
  receiptSigningMessage,
  verifyChain,
  verifyCheckpoint,
  verifyReceipt,
} from './index.js';
import { fields, T0 } from './test-support/chain.js';

describe('jwkThumbprint', () => {
  it('matches the RFC 8037 §A.3 example', () => {
    expect(
      jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }),
    ).toBe('kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k');
  });
});

describe('generateSigningKey', () => {
  it('returns a PKCS#8 PEM, its public JWK and the thumbprint as kid', () => {
    const key = generateSigningKey();
    expect(key.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(key.publicJwk).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: expect.any(String),
      kid: key.kid,
      alg: 'EdDSA',
      use: 'sig',
    });
    expect(key.kid).toBe(jwkThumbprint(key.publicJwk));
    expect(key.publicJwk).not.toHaveProperty('d');
  });
});

describe('createReceiptSigner', () => {
  const key = generateSigningKey();

  it('accepts a PEM string or a KeyObject, with the same kid', () => {
    expect(createReceiptSigner(key.privateKeyPem).kid).toBe(key.kid);
    expect(createReceiptSigner(createPrivateKey(key.privateKeyPem)).kid).toBe(key.kid);
  });

  it.each([
    ['a non-Ed25519 key', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey],
    ['a public key', generateKeyPairSync('ed25519').publicKey],
    ['a string that is not PEM', 'not a key'],
  ])('throws TypeError for %s', (_name, bad) => {
    expect(() => createReceiptSigner(bad)).toThrow(expect.objectContaining({ name: 'TypeError' }));
  });

  describe('sign', () => {
    const signer = createReceiptSigner(key.privateKeyPem);
    const body = nextReceipt(null, 'replica-a', fields(1));

    it('sets signer_kid and signs RECEIPT_SIGNING_PREFIX + canonical JSON of the body', () => {
      const signed = signer.sign(body);
      expect(signed.signer_kid).toBe(key.kid);
      const { sig, ...unsigned } = signed;
      const message = Buffer.from(`openexec-receipt-v1\n${canonicalJson(unsigned)}`, 'utf8');
      expect(RECEIPT_SIGNING_PREFIX).toBe('openexec-receipt-v1\n');
      expect(Buffer.from(receiptSigningMessage(signed))).toEqual(message);
      expect(verify(null, message, createPrivateKey(key.privateKeyPem), Buffer.from(sig, 'base64url'))).toBe(
        true,
      );
    });

    it('throws ERR_RECEIPT_MALFORMED naming the field of an invalid body', () => {
      expect(() => signer.sign({ ...body, outcome: 'done' as never })).toThrow(
        expect.objectContaining({ code: 'ERR_RECEIPT_MALFORMED', field: 'outcome' }),
      );
    });

    it("throws TypeError for another signer's kid or an already signed body", () => {
      expect(() => signer.sign({ ...body, signer_kid: 'someone-else' })).toThrow(
        expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('signer_kid') }),
      );
      expect(() => signer.sign(signer.sign(body))).toThrow(
        expect.objectContaining({ name: 'TypeError', message: 'body is already signed (has "sig")' }),
      );
    });

    it('produces receipts that verify', () => {
      expect(verifyReceipt(signer.sign(body), { keys: [signer.publicJwk] }).valid).toBe(true);
    });
  });

  describe('signCheckpoint', () => {
    const signer = createReceiptSigner(key.privateKeyPem);

    it('signs (chain, seq, head) with its own prefix and defaults created_at to now', () => {
      const before = Date.now();
      const checkpoint = signer.signCheckpoint({ chain: 'replica-a', seq: 3, head: 'a'.repeat(64) });
      expect(checkpoint).toMatchObject({
        v: 'openexec-checkpoint/1',
        chain: 'replica-a',
        seq: 3,
        signer_kid: key.kid,
      });
      expect(Date.parse(checkpoint.created_at)).toBeGreaterThanOrEqual(before - 1);
      expect(verifyCheckpoint(checkpoint, { keys: [signer.publicJwk] })).toMatchObject({
        valid: true,
        problems: [],
      });
    });

    it('throws ERR_CHECKPOINT_MALFORMED naming the field', () => {
      expect(() => signer.signCheckpoint({ chain: 'replica-a', seq: 0, head: 'a'.repeat(64) })).toThrow(
        expect.objectContaining({ code: 'ERR_CHECKPOINT_MALFORMED', field: 'seq' }),
      );
    });

    it('is not accepted as a receipt signature (domain separation)', () => {
      const checkpoint = signer.signCheckpoint({ chain: 'replica-a', seq: 1, head: 'a'.repeat(64) });
      const receipt = signer.sign(nextReceipt(null, 'replica-a', fields(1)));
      const swapped = { ...receipt, sig: checkpoint.sig };
      expect(verifyReceipt(swapped, { keys: [signer.publicJwk] }).problems.map((p) => p.code)).toEqual([
        'ERR_RECEIPT_SIGNATURE_INVALID',
      ]);
    });
  });
});

describe('createChainSealer', () => {
  it('seals drafts in order after the head it is given, as a chain that verifies', () => {
    const key = generateSigningKey();
    const sealer = createChainSealer(key.privateKeyPem, 'replica-a');
    const first = sealer.seal(null, [{ fields: fields(1) }, { fields: fields(2) }]);
    const last = first.at(-1);
    if (!last) throw new Error('nothing sealed');
    const next = sealer.seal({ seq: last.seq, hash: last.hash }, [{ fields: fields(3) }]);
    const chain = [...first, ...next];
    expect(chain.map((receipt) => [receipt.chain, receipt.seq])).toEqual([
      ['replica-a', 1],
      ['replica-a', 2],
      ['replica-a', 3],
    ]);
    for (const receipt of chain) expect(receiptHash(JSON.parse(receipt.body))).toBe(receipt.hash);
    const verdict = verifyChain(
      chain.map((receipt) => JSON.parse(receipt.body)),
      { keys: [key.publicJwk] },
    );
    expect(verdict).toMatchObject({ valid: true, count: 3, problems: [] });
  });
});

describe('nextReceipt', () => {
  it('starts a chain at seq 1 with the genesis hash of the chain id', () => {
    const body = nextReceipt(null, 'replica-a', fields(1));
    expect(body).toMatchObject({ v: 'openexec-receipt/1', chain: 'replica-a', seq: 1 });
    const expected = createHash('sha256').update(`${RECEIPT_GENESIS_PREFIX}replica-a`).digest('hex');
    expect(body.prev).toBe(expected);
    expect(genesisHash('replica-a')).toBe(expected);
    expect(genesisHash('replica-b')).not.toBe(expected);
  });

  it('links to the head it is given', () => {
    const body = nextReceipt({ seq: 41, hash: 'c'.repeat(64) }, 'replica-a', fields(42));
    expect(body).toMatchObject({ seq: 42, prev: 'c'.repeat(64) });
  });

  it('writes created_at as RFC 3339 UTC with milliseconds', () => {
    expect(nextReceipt(null, 'c', fields(1, { created_at: new Date(T0 + 5) })).created_at).toBe(
      '2025-01-01T00:00:00.005Z',
    );
  });

  it('throws TypeError when the caller tries to set chain-controlled fields', () => {
    expect(() => nextReceipt(null, 'c', { ...fields(1), seq: 9 } as never)).toThrow(
      expect.objectContaining({
        name: 'TypeError',
        message: 'fields.seq is set by the chain, not the caller',
      }),
    );
  });

  it('throws ERR_RECEIPT_MALFORMED naming an invalid field', () => {
    expect(() => nextReceipt(null, 'c', fields(1, { mode: 'live' as never }))).toThrow(
      expect.objectContaining({ code: 'ERR_RECEIPT_MALFORMED', field: 'mode' }),
    );
  });

  it('throws TypeError for a head that is not a receipt position', () => {
    expect(() => nextReceipt({ seq: 0, hash: 'c'.repeat(64) }, 'c', fields(1))).toThrow(TypeError);
    expect(() => nextReceipt({ seq: 1, hash: 'xyz' }, 'c', fields(1))).toThrow(TypeError);
  });
});

describe('receiptHash', () => {
  it('is hex SHA-256 of RECEIPT_HASH_PREFIX + canonical JSON of the signed receipt', () => {
    const signer = createReceiptSigner(generateSigningKey().privateKeyPem);
    const receipt = signer.sign(nextReceipt(null, 'replica-a', fields(1)));
    expect(RECEIPT_HASH_PREFIX).toBe('openexec-receipt-hash-v1\n');
    expect(receiptHash(receipt)).toBe(
      createHash('sha256')
        .update(`openexec-receipt-hash-v1\n${canonicalJson(receipt)}`)
        .digest('hex'),
    );
  });
});

describe('signNext', () => {
  it('equals nextReceipt + sign + receiptHash, and its JSON is the canonical form of the signed receipt', async () => {
    const fc = await import('fast-check');
    const signer = createReceiptSigner(generateSigningKey().privateKeyPem);
    // Every field of the strict format varies: signNext writes keys in a fixed order, and this
    // is what proves that order (and its number and string formatting) is RFC 8785's.
    const text = fc.string({ minLength: 1, maxLength: 30, unit: 'grapheme' });
    const anyText = fc.string({ maxLength: 30, unit: 'grapheme' });
    const amount = fc.oneof(
      fc.nat(),
      fc.double({ min: 0, max: 1e30, noNaN: true, noDefaultInfinity: true }),
      fc.constantFrom(0, -0, 1e21, 1e-7, 0.1),
    );
    fc.assert(
      fc.property(
        fc.record({
          exec_id: fc.option(anyText),
          nonce: text,
          action: text,
          tenant: anyText,
          request_digest: text,
          approval: fc.option(fc.record({ id: text, issuer: anyText, kid: fc.option(anyText) })),
          mode: fc.constantFrom('demo' as const, 'clawshield' as const),
          outcome: fc.constantFrom(...RECEIPT_OUTCOMES),
          result_digest: fc.option(anyText),
          error_code: fc.option(text),
          isolation: fc.option(fc.constantFrom('bwrap', 'none')),
          run: fc.option(
            fc.record({
              exit_code: fc.option(fc.integer({ min: -1, max: 255 })),
              signal: fc.option(anyText),
              duration_ms: amount,
              max_rss_kib: fc.option(amount),
              cpu_ms: fc.option(amount),
            }),
          ),
          created_at: fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
          head: fc.option(
            fc.record({
              seq: fc.integer({ min: 1, max: 1_000_000 }),
              hash: fc
                .uint8Array({ minLength: 32, maxLength: 32 })
                .map((b) => Buffer.from(b).toString('hex')),
            }),
          ),
          chain: text,
        }),
        ({ head, chain, ...fields }) => {
          const fast = signer.signNext(head, chain, fields);
          const slow = signer.sign(nextReceipt(head, chain, fields));
          expect(fast.receipt).toEqual(slow);
          expect(fast.json).toBe(canonicalJson(slow));
          expect(fast.hash).toBe(receiptHash(slow));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses what nextReceipt refuses, naming the field', () => {
    const signer = createReceiptSigner(generateSigningKey().privateKeyPem);
    expect(() => signer.signNext(null, 'c', fields(1, { mode: 'live' as never }))).toThrow(
      expect.objectContaining({ code: 'ERR_RECEIPT_MALFORMED', field: 'mode' }),
    );
    expect(() => signer.signNext(null, 'c', { ...fields(1), extra: 1 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RECEIPT_MALFORMED', field: 'extra' }),
    );
    expect(() => signer.signNext(null, 'c', { ...fields(1), sig: 'x' } as never)).toThrow(TypeError);
    expect(() => signer.signNext({ seq: 1, hash: 'xyz' }, 'c', fields(1))).toThrow(TypeError);
  });

  it('writes its own kid over a kid among the fields, after checking that one like any field', () => {
    const signer = createReceiptSigner(generateSigningKey().privateKeyPem);
    const { receipt } = signer.signNext(null, 'c', { ...fields(1), signer_kid: 'someone-else' } as never);
    expect(receipt.signer_kid).toBe(signer.kid);
    expect(() => signer.signNext(null, 'c', { ...fields(1), signer_kid: 7 } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_RECEIPT_MALFORMED', field: 'signer_kid' }),
    );
  });
});
