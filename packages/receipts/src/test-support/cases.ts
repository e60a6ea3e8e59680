// Every chain-verification case, with the problems it must produce. Run by verify-chain.test.ts
// (per backend) and backends-agree.test.ts (both backends, identical answers).
import {
  type ChainVerifyOptions,
  genesisHash,
  type Jwks,
  nextReceipt,
  type ReceiptProblemCode,
  receiptHash,
  type SignedReceipt,
} from '../index.js';
import { clone, fields, flipSignature, jwksWith, makeChain, newSigner, T0, toJsonl } from './chain.js';

export interface ChainCase {
  name: string;
  receipts: unknown[];
  keys: Jwks;
  options?: Omit<ChainVerifyOptions, 'backend'>;
  /** [code, seq] of every expected problem, in order. */
  expected: Array<[ReceiptProblemCode, number | null]>;
}

const ED25519_L = 2n ** 252n + 27742317777372353535851937790883648493n;

/** The same signature with S replaced by S + L: valid for lax verifiers, non-canonical per RFC 8032. */
export function malleate(sig: string): string {
  const bytes = Buffer.from(sig, 'base64url');
  let s = 0n;
  for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(bytes[32 + i]!);
  s += ED25519_L;
  for (let i = 0; i < 32; i++) {
    bytes[32 + i] = Number(s & 0xffn);
    s >>= 8n;
  }
  return bytes.toString('base64url');
}

export function buildChainCases(): ChainCase[] {
  const a = makeChain(6);
  const { signer, jwks } = a;
  const A = a.receipts;
  const head = (r: SignedReceipt) => ({ seq: r.seq, hash: receiptHash(r) });
  const edit = (i: number, change: (r: Record<string, unknown>) => void): unknown[] => {
    const copy = clone(A) as unknown as Record<string, unknown>[];
    change(copy[i]!);
    return copy;
  };
  // Same signer, same chain id, shares seq 1..3 with A, then diverges: a rewritten tail.
  const fork = makeChain(6, { signer, from: A.slice(0, 3), outcome: 'failed' }).receipts;
  const other = newSigner();
  const forged = other.sign(nextReceipt(head(A[5]!), a.chainId, fields(7)));
  const { sig: _sig, ...body5 } = A[4]!;
  const badLink = signer.sign({ ...body5, prev: 'ab'.repeat(32) });
  const badGenesis = signer.sign({
    ...nextReceipt(null, a.chainId, fields(1)),
    prev: genesisHash('another-chain'),
  });
  const checkpoint = signer.signCheckpoint({ chain: a.chainId, seq: 6, head: receiptHash(A[5]!) });
  const lines = toJsonl(A).trimEnd().split('\n');

  return [
    { name: 'an untouched chain', receipts: A, keys: jwks, expected: [] },
    { name: 'a chain given as JSONL lines', receipts: lines, keys: jwks, expected: [] },
    {
      name: 'an untouched chain with its checkpoint and a kept receipt',
      receipts: A,
      keys: jwks,
      options: { checkpoint, anchor: A[3] },
      expected: [],
    },
    {
      name: 'a bad signature',
      receipts: edit(2, (r) => {
        r.sig = flipSignature(r.sig as string);
      }),
      keys: jwks,
      expected: [['ERR_RECEIPT_SIGNATURE_INVALID', 3]],
    },
    {
      name: 'a non-canonical signature (S + L)',
      receipts: edit(2, (r) => {
        r.sig = malleate(r.sig as string);
      }),
      keys: jwks,
      expected: [['ERR_RECEIPT_SIGNATURE_INVALID', 3]],
    },
    {
      name: 'an edited field',
      receipts: edit(3, (r) => {
        r.outcome = 'failed';
      }),
      keys: jwks,
      expected: [['ERR_RECEIPT_SIGNATURE_INVALID', 4]],
    },
    {
      name: 'an edited field with a value outside the format',
      receipts: edit(3, (r) => {
        r.outcome = 'great-success';
      }),
      keys: jwks,
      expected: [['ERR_RECEIPT_MALFORMED', 4]],
    },
    {
      name: 'an added field',
      receipts: edit(3, (r) => {
        r.note = 'hello';
      }),
      keys: jwks,
      expected: [['ERR_RECEIPT_MALFORMED', 4]],
    },
    {
      name: 'a removed receipt',
      receipts: [A[0], A[1], A[3], A[4], A[5]],
      keys: jwks,
      expected: [['ERR_CHAIN_GAP', 3]],
    },
    { name: 'a removed first receipt', receipts: A.slice(1), keys: jwks, expected: [['ERR_CHAIN_GAP', 1]] },
    {
      name: 'reordered receipts',
      receipts: [A[0], A[1], A[3], A[2], A[4], A[5]],
      keys: jwks,
      expected: [['ERR_CHAIN_ORDER', 3]],
    },
    {
      name: 'an inserted receipt from a fork of the chain',
      receipts: [A[0], A[1], A[2], fork[3], A[3], A[4], A[5]],
      keys: jwks,
      expected: [['ERR_CHAIN_DUPLICATE_SEQ', 4]],
    },
    {
      name: 'a duplicated receipt',
      receipts: [A[0], A[1], A[2], A[2], A[3], A[4], A[5]],
      keys: jwks,
      expected: [['ERR_CHAIN_DUPLICATE_SEQ', 3]],
    },
    {
      name: 'an appended receipt signed by an unknown key',
      receipts: [...A, forged],
      keys: jwks,
      expected: [['ERR_RECEIPT_UNKNOWN_KEY', 7]],
    },
    {
      name: "an appended receipt signed by another key under the signer's kid",
      receipts: [...A, { ...forged, signer_kid: signer.kid }],
      keys: jwks,
      expected: [['ERR_RECEIPT_SIGNATURE_INVALID', 7]],
    },
    {
      name: 'a validly signed receipt with a rewritten link',
      receipts: [A[0], A[1], A[2], A[3], badLink, A[5]],
      keys: jwks,
      expected: [
        ['ERR_CHAIN_PREV_MISMATCH', 5],
        ['ERR_CHAIN_PREV_MISMATCH', 6],
      ],
    },
    {
      name: 'a first receipt not linked to the genesis hash of its chain',
      receipts: [badGenesis],
      keys: jwks,
      expected: [['ERR_CHAIN_PREV_MISMATCH', 1]],
    },
    {
      name: 'a receipt from another chain',
      receipts: [...A, makeChain(1, { signer, chainId: 'replica-b' }).receipts[0]],
      keys: jwks,
      expected: [['ERR_CHAIN_MIXED', 1]],
    },
    { name: 'an empty chain', receipts: [], keys: jwks, expected: [['ERR_CHAIN_EMPTY', null]] },
    {
      name: 'a corrupt JSONL line',
      receipts: [lines[0], lines[1], '{"v":"openexec-receipt/1",', ...lines.slice(3)],
      keys: jwks,
      expected: [
        ['ERR_RECEIPT_MALFORMED', null],
        ['ERR_CHAIN_GAP', 3],
      ],
    },
    {
      name: 'a JSONL line with a duplicated key',
      receipts: [lines[0], lines[1], lines[2]!.replace('{', '{"outcome":"failed",'), ...lines.slice(3)],
      keys: jwks,
      expected: [
        ['ERR_RECEIPT_MALFORMED', null],
        ['ERR_CHAIN_GAP', 3],
      ],
    },
    {
      name: 'a cut tail, against a checkpoint',
      receipts: A.slice(0, 4),
      keys: jwks,
      options: { checkpoint },
      expected: [['ERR_CHAIN_TRUNCATED', 5]],
    },
    {
      name: 'a cut tail, against a kept receipt',
      receipts: A.slice(0, 4),
      keys: jwks,
      options: { anchor: A[5] },
      expected: [['ERR_CHAIN_TRUNCATED', 5]],
    },
    {
      name: 'a rewritten tail of the same length, against a checkpoint',
      receipts: fork,
      keys: jwks,
      options: { checkpoint },
      expected: [['ERR_CHAIN_FORKED', 6]],
    },
    {
      name: 'a rewritten tail of the same length, against a kept receipt',
      receipts: fork,
      keys: jwks,
      options: { anchor: A[4] },
      expected: [['ERR_CHAIN_FORKED', 5]],
    },
    {
      name: 'a tampered checkpoint',
      receipts: A.slice(0, 4),
      keys: jwks,
      options: { checkpoint: { ...checkpoint, seq: 4 } },
      expected: [['ERR_CHECKPOINT_SIGNATURE_INVALID', null]],
    },
    {
      name: 'a checkpoint with a flipped signature',
      receipts: A,
      keys: jwks,
      options: { checkpoint: { ...checkpoint, sig: flipSignature(checkpoint.sig) } },
      expected: [['ERR_CHECKPOINT_SIGNATURE_INVALID', null]],
    },
    {
      name: 'a checkpoint signed by an unknown key',
      receipts: A,
      keys: jwks,
      options: { checkpoint: other.signCheckpoint({ chain: a.chainId, seq: 6, head: receiptHash(A[5]!) }) },
      expected: [['ERR_CHECKPOINT_UNKNOWN_KEY', null]],
    },
    {
      name: 'a checkpoint of another chain',
      receipts: A,
      keys: jwks,
      options: {
        chain: a.chainId,
        checkpoint: signer.signCheckpoint({ chain: 'replica-b', seq: 1, head: 'a'.repeat(64) }),
      },
      expected: [['ERR_CHECKPOINT_CHAIN_MISMATCH', null]],
    },
    {
      name: 'a malformed checkpoint',
      receipts: A,
      keys: jwks,
      options: { checkpoint: '{"v":"openexec-checkpoint/1"}' },
      expected: [['ERR_CHECKPOINT_MALFORMED', null]],
    },
    {
      name: 'a kept receipt that was edited',
      receipts: A,
      keys: jwks,
      options: { anchor: { ...A[2], outcome: 'failed' } },
      expected: [['ERR_ANCHOR_INVALID', 3]],
    },
    {
      name: 'receipts dated after their key expired',
      receipts: A,
      keys: jwksWith(signer, { exp: (T0 + 4500) / 1000 }),
      expected: [
        ['ERR_RECEIPT_KEY_NOT_VALID', 5],
        ['ERR_RECEIPT_KEY_NOT_VALID', 6],
      ],
    },
    {
      name: 'receipts dated before their key became valid',
      receipts: A.slice(0, 2),
      keys: jwksWith(signer, { nbf: (T0 + 1500) / 1000 }),
      expected: [['ERR_RECEIPT_KEY_NOT_VALID', 1]],
    },
  ];
}

export interface ReceiptCase {
  name: string;
  receipt: unknown;
  keys: Jwks;
  expected: ReceiptProblemCode[];
}

/** Single-receipt cases for verifyReceipt. */
export function buildReceiptCases(): ReceiptCase[] {
  const { signer, receipts, jwks } = makeChain(3);
  const r = receipts[2]!;
  const other = newSigner();
  const at = Date.parse(r.created_at) / 1000;
  return [
    { name: 'a valid receipt', receipt: r, keys: jwks, expected: [] },
    { name: 'a valid receipt as JSON text', receipt: JSON.stringify(r), keys: jwks, expected: [] },
    {
      name: 'a flipped signature bit',
      receipt: { ...r, sig: flipSignature(r.sig) },
      keys: jwks,
      expected: ['ERR_RECEIPT_SIGNATURE_INVALID'],
    },
    {
      name: 'a malleated signature (S + L)',
      receipt: { ...r, sig: malleate(r.sig) },
      keys: jwks,
      expected: ['ERR_RECEIPT_SIGNATURE_INVALID'],
    },
    {
      name: 'an all-zero signature',
      receipt: { ...r, sig: 'A'.repeat(86) },
      keys: jwks,
      expected: ['ERR_RECEIPT_SIGNATURE_INVALID'],
    },
    {
      name: 'an edited tenant',
      receipt: { ...r, tenant: 'evil' },
      keys: jwks,
      expected: ['ERR_RECEIPT_SIGNATURE_INVALID'],
    },
    {
      name: 'an edited created_at',
      receipt: { ...r, created_at: '2030-01-01T00:00:00.000Z' },
      keys: jwks,
      expected: ['ERR_RECEIPT_SIGNATURE_INVALID'],
    },
    {
      name: 'a signer not in the key set',
      receipt: r,
      keys: { keys: [other.publicJwk] },
      expected: ['ERR_RECEIPT_UNKNOWN_KEY'],
    },
    {
      name: 'a key set with the right key under another kid',
      receipt: r,
      keys: { keys: [{ ...signer.publicJwk, kid: 'renamed' }] },
      expected: ['ERR_RECEIPT_UNKNOWN_KEY'],
    },
    {
      name: "another key published under the signer's kid",
      receipt: r,
      keys: { keys: [{ ...other.publicJwk, kid: signer.kid }] },
      expected: ['ERR_RECEIPT_SIGNATURE_INVALID'],
    },
    {
      name: 'a key that expired before created_at',
      receipt: r,
      keys: jwksWith(signer, { exp: at }),
      expected: ['ERR_RECEIPT_KEY_NOT_VALID'],
    },
    {
      name: 'a key that expires after created_at',
      receipt: r,
      keys: jwksWith(signer, { exp: at + 0.001 }),
      expected: [],
    },
    {
      name: 'a key valid from exactly created_at',
      receipt: r,
      keys: jwksWith(signer, { nbf: at }),
      expected: [],
    },
    {
      name: 'a key not yet valid at created_at',
      receipt: r,
      keys: jwksWith(signer, { nbf: at + 1 }),
      expected: ['ERR_RECEIPT_KEY_NOT_VALID'],
    },
    {
      name: 'a key outside its window and a bad signature',
      receipt: { ...r, sig: flipSignature(r.sig) },
      keys: jwksWith(signer, { nbf: at + 1, exp: at + 2 }),
      expected: ['ERR_RECEIPT_KEY_NOT_VALID', 'ERR_RECEIPT_SIGNATURE_INVALID'],
    },
    {
      name: 'JSON text with a duplicated key',
      receipt: JSON.stringify(r).replace('{', '{"tenant":"x",'),
      keys: jwks,
      expected: ['ERR_RECEIPT_MALFORMED'],
    },
    { name: 'text that is not JSON', receipt: '{', keys: jwks, expected: ['ERR_RECEIPT_MALFORMED'] },
    {
      name: 'a missing field',
      receipt: { ...r, nonce: undefined },
      keys: jwks,
      expected: ['ERR_RECEIPT_MALFORMED'],
    },
  ];
}
