import { describe, expect, it } from 'vitest';
import {
  createChainVerifier,
  formatProblem,
  nodeCryptoBackend,
  receiptHash,
  tweetnaclBackend,
  verifyChain,
} from './index.js';
import { buildChainCases } from './test-support/cases.js';
import { clone, makeChain } from './test-support/chain.js';

const cases = buildChainCases();

describe('verifyChain', () => {
  describe.each([nodeCryptoBackend, tweetnaclBackend])('with the $name backend', (backend) => {
    it.each(cases)('names what is wrong with $name', ({ receipts, keys, options, expected }) => {
      const result = verifyChain(receipts, keys, { ...options, backend });
      expect(result.problems.map((p) => [p.code, p.seq])).toEqual(expected);
      expect(result.valid).toBe(expected.length === 0);
    });
  });

  describe('when a receipt was edited', () => {
    it('says which seq and that the signature no longer matches', () => {
      const { receipts, jwks } = makeChain(20);
      const edited = clone(receipts);
      edited[16]!.outcome = 'failed';
      const result = verifyChain(edited, jwks);
      expect(result.problems).toEqual([
        {
          seq: 17,
          code: 'ERR_RECEIPT_SIGNATURE_INVALID',
          message: 'seq 17: signature does not match (receipt edited or signed by another key)',
        },
      ]);
      expect(formatProblem(result.problems[0]!)).toBe(
        'seq 17: ERR_RECEIPT_SIGNATURE_INVALID: signature does not match (receipt edited or signed by another key)',
      );
    });

    it('names the field when the edit breaks the format', () => {
      const { receipts, jwks } = makeChain(3);
      const edited = clone(receipts) as unknown as Record<string, unknown>[];
      edited[1]!.seq = '2';
      const [problem] = verifyChain(edited, jwks).problems;
      expect(problem).toMatchObject({ code: 'ERR_RECEIPT_MALFORMED', field: 'seq', seq: null });
      expect(problem?.message).toContain('field "seq" must be an integer >= 1');
    });

    it('names the fields that differ from a kept receipt', () => {
      const original = makeChain(5);
      const fork = makeChain(5, {
        signer: original.signer,
        from: original.receipts.slice(0, 2),
        outcome: 'failed',
      });
      const result = verifyChain(fork.receipts, original.jwks, { anchor: original.receipts[3] });
      expect(result.problems).toHaveLength(1);
      expect(result.problems[0]).toMatchObject({ code: 'ERR_CHAIN_FORKED', seq: 4 });
      expect(result.problems[0]?.message).toContain('fields differing from the anchor: outcome, prev');
    });
  });

  describe('when receipts were removed', () => {
    it('reports a run of missing receipts once, as a range', () => {
      const { receipts, jwks } = makeChain(10);
      const result = verifyChain([...receipts.slice(0, 3), ...receipts.slice(7)], jwks);
      expect(result.problems).toEqual([
        {
          seq: 4,
          code: 'ERR_CHAIN_GAP',
          message:
            'seq 4: missing, and so are seq 5..7 (4 receipts): the chain jumps from seq 3 to seq 8 (receipts removed)',
        },
      ]);
    });

    it('still names a removed receipt when a malformed line claims a seq past the head', () => {
      const { receipts, jwks } = makeChain(6);
      const lines = [...receipts.slice(0, 2), ...receipts.slice(3)].map((receipt) => JSON.stringify(receipt));
      const result = verifyChain([...lines, '{"seq":7}'], jwks);
      expect(result.problems.map((p) => [p.code, p.seq])).toEqual([
        ['ERR_RECEIPT_MALFORMED', 7],
        ['ERR_CHAIN_GAP', 3],
      ]);
    });

    it('does not report the seq of a malformed receipt as missing as well', () => {
      const { receipts, jwks } = makeChain(4);
      const lines = receipts.map((receipt) => JSON.stringify(receipt));
      lines[2] = '{"seq":3}';
      expect(verifyChain(lines, jwks).problems.map((p) => p.code)).not.toContain('ERR_CHAIN_GAP');
    });

    it('does not loop up to an attacker-chosen seq', () => {
      const { receipts, jwks } = makeChain(2);
      const huge = { ...receipts[1]!, seq: Number.MAX_SAFE_INTEGER };
      // A loop over the missing seqs would never return; one gap problem says none ran.
      const result = verifyChain([receipts[0], huge], jwks);
      expect(result.problems.map((p) => p.code)).toEqual(['ERR_RECEIPT_SIGNATURE_INVALID', 'ERR_CHAIN_GAP']);
    });
  });

  describe('when the key set names the chain each key signs', () => {
    it("refuses receipts and a checkpoint signed by another chain's key", () => {
      const { receipts, jwks, signer, chainId } = makeChain(3);
      const checkpoint = signer.signCheckpoint({ chain: chainId, seq: 3, head: receiptHash(receipts[2]!) });
      const elsewhere = { keys: jwks.keys.map((key) => ({ ...key, chain: 'replica-2' })) };
      const result = verifyChain(receipts, elsewhere, { checkpoint });
      expect(result.valid).toBe(false);
      expect(result.problems.map((p) => [p.code, p.seq])).toEqual([
        ['ERR_CHECKPOINT_KEY_NOT_VALID', null],
        ['ERR_RECEIPT_KEY_NOT_VALID', 1],
        ['ERR_RECEIPT_KEY_NOT_VALID', 2],
        ['ERR_RECEIPT_KEY_NOT_VALID', 3],
      ]);
      expect(result.problems[1]?.message).toContain(`signs chain "replica-2", not "${chainId}"`);
    });

    it('accepts them on its own chain', () => {
      const { receipts, jwks, chainId } = makeChain(3);
      const own = { keys: jwks.keys.map((key) => ({ ...key, chain: chainId })) };
      expect(verifyChain(receipts, own).problems).toEqual([]);
    });
  });

  describe('when the tail is checked against a checkpoint', () => {
    it('says how many of the newest receipts were cut off', () => {
      const { receipts, jwks, signer, chainId } = makeChain(8);
      const checkpoint = signer.signCheckpoint({ chain: chainId, seq: 8, head: receiptHash(receipts[7]!) });
      const result = verifyChain(receipts.slice(0, 5), jwks, { checkpoint });
      expect(result.problems).toEqual([
        {
          seq: 6,
          code: 'ERR_CHAIN_TRUNCATED',
          message:
            'seq 6: the chain ends at seq 5 but the checkpoint covers seq 8 (3 newest receipts cut off)',
        },
      ]);
    });

    it('accepts a chain that has grown past the checkpoint', () => {
      const { receipts, jwks, signer, chainId } = makeChain(8);
      const checkpoint = signer.signCheckpoint({ chain: chainId, seq: 5, head: receiptHash(receipts[4]!) });
      expect(verifyChain(receipts, jwks, { checkpoint })).toMatchObject({ valid: true, count: 8 });
    });
  });

  describe('when the chain is valid', () => {
    it('returns the count and the head', () => {
      const { receipts, jwks } = makeChain(4);
      expect(verifyChain(receipts, jwks)).toEqual({
        valid: true,
        count: 4,
        head: { seq: 4, hash: receiptHash(receipts[3]!) },
        problems: [],
      });
    });

    it('reads an async iterable of JSONL lines, numbering them', async () => {
      const { receipts, jwks } = makeChain(3);
      async function* lines() {
        yield JSON.stringify(receipts[0]);
        yield '';
        yield 'not json';
        yield JSON.stringify(receipts[1]);
        yield JSON.stringify(receipts[2]);
      }
      const result = await verifyChain(lines(), jwks);
      expect(result.count).toBe(4);
      expect(result.problems).toEqual([
        expect.objectContaining({ code: 'ERR_RECEIPT_MALFORMED', seq: null, line: 3 }),
      ]);
      expect(result.problems[0]?.message).toMatch(/^line 3: not valid JSON/);
    });

    it('accepts receipts one at a time through createChainVerifier', () => {
      const { receipts, jwks } = makeChain(3);
      const verifier = createChainVerifier(jwks);
      for (const r of receipts) verifier.add(r);
      expect(verifier.finish()).toMatchObject({ valid: true, count: 3 });
      expect(() => verifier.add(receipts[0])).toThrow(TypeError);
    });
  });

  describe('when misused', () => {
    it('throws TypeError for a string instead of an iterable of lines', () => {
      const { jwks } = makeChain(1);
      expect(() => verifyChain('{}' as unknown as string[], jwks)).toThrow(
        expect.objectContaining({ name: 'TypeError', message: expect.stringContaining('iterable') }),
      );
    });

    it('throws ERR_JWKS_INVALID for a key set carrying a private key', () => {
      const { receipts, signer } = makeChain(1);
      expect(() => verifyChain(receipts, { keys: [{ ...signer.publicJwk, d: 'secret' }] })).toThrow(
        expect.objectContaining({
          code: 'ERR_JWKS_INVALID',
          message: expect.stringContaining('private key'),
        }),
      );
    });
  });
});
