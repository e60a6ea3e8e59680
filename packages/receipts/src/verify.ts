import type { CryptoBackend } from './backend.js';
import { canonicalJson, parseJsonText } from './canonical-json.js';
import {
  checkpointSigningMessage,
  computeGenesisHash,
  computeReceiptHash,
  receiptSigningMessage,
} from './chain.js';
import { base64urlDecode } from './encoding.js';
import type { Problem, ReceiptProblemCode } from './errors.js';
import {
  type ChainHead,
  peekSeq,
  type SignedCheckpoint,
  type SignedReceipt,
  validateSignedCheckpoint,
  validateSignedReceipt,
} from './format.js';
import { type KeySource, resolveKeySource, type VerificationKey } from './keys.js';

export interface VerifyOptions {
  /** Ed25519/SHA-256 implementation; defaults to node:crypto in Node, tweetnacl in the portable entry. */
  backend?: CryptoBackend;
}

export interface ReceiptVerification {
  valid: boolean;
  problems: Problem[];
  /** The receipt when it is well-formed (even if its signature is not valid), else null. */
  receipt: SignedReceipt | null;
  /** Its hash when well-formed, else null. */
  hash: string | null;
}

export interface CheckpointVerification {
  valid: boolean;
  problems: Problem[];
  checkpoint: SignedCheckpoint | null;
}

export interface ChainVerifyOptions extends VerifyOptions {
  /** Expected chain id; defaults to the checkpoint's, the anchor's, or the first receipt's. */
  chain?: string;
  /** A signed checkpoint held outside the log (parsed JSON or JSON text). */
  checkpoint?: unknown;
  /** A receipt the caller kept from this chain (parsed JSON or JSON text). */
  anchor?: unknown;
}

export interface ChainVerification {
  valid: boolean;
  /** Receipts read (blank lines excluded, malformed ones included). */
  count: number;
  /** The receipt with the highest seq; meaningful only when valid. */
  head: ChainHead | null;
  problems: Problem[];
}

type KeyFinder = (kid: string) => VerificationKey | undefined;

// Ed25519 group order L, little-endian. A signature's S must be < L (RFC 8032 §5.1.7):
// otherwise S and S+L are two valid encodings of one signature (malleability), and
// implementations disagree on accepting them. Checked here, once, for every backend.
const ED25519_L = Uint8Array.from([
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
]);

export function hasCanonicalScalar(signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  for (let i = 31; i >= 0; i--) {
    const s = signature[32 + i]!;
    const l = ED25519_L[i]!;
    if (s !== l) return s < l;
  }
  return false; // S == L
}

function problem(
  code: ReceiptProblemCode,
  seq: number | null,
  where: string,
  detail: string,
  extra: { line?: number | undefined; field?: string | undefined } = {},
): Problem {
  const p: Problem = { seq, code, message: `${where}: ${detail}` };
  if (extra.line !== undefined) p.line = extra.line;
  if (extra.field !== undefined) p.field = extra.field;
  return p;
}

function whereOf(seq: number | null, line: number | undefined): string {
  if (seq !== null) return `seq ${seq}`;
  return line !== undefined ? `line ${line}` : 'receipt';
}

function toInput(value: unknown): { ok: true; value: unknown } | { ok: false; message: string } {
  return typeof value === 'string' ? parseJsonText(value) : { ok: true, value };
}

const RECEIPT_CODES = {
  unknownKey: 'ERR_RECEIPT_UNKNOWN_KEY',
  keyNotValid: 'ERR_RECEIPT_KEY_NOT_VALID',
  signature: 'ERR_RECEIPT_SIGNATURE_INVALID',
} as const;
const CHECKPOINT_CODES = {
  unknownKey: 'ERR_CHECKPOINT_UNKNOWN_KEY',
  keyNotValid: 'ERR_CHECKPOINT_KEY_NOT_VALID',
  signature: 'ERR_CHECKPOINT_SIGNATURE_INVALID',
} as const;

/** Key lookup, validity window, signature. Returns the problems (empty when all is well). */
function checkSignature(
  backend: CryptoBackend,
  findKey: KeyFinder,
  signed: SignedReceipt | SignedCheckpoint,
  message: Uint8Array,
  codes: typeof RECEIPT_CODES | typeof CHECKPOINT_CODES,
  what: 'receipt' | 'checkpoint',
  seq: number | null,
  where: string,
  line: number | undefined,
): Problem[] {
  const key = findKey(signed.signer_kid);
  if (key === undefined) {
    return [
      problem(codes.unknownKey, seq, where, `signer_kid "${signed.signer_kid}" is not in the key set`, {
        line,
        field: 'signer_kid',
      }),
    ];
  }
  const problems: Problem[] = [];
  const at = Date.parse(signed.created_at);
  if (key.chain !== null && key.chain !== signed.chain) {
    // One replica's key cannot rewrite another replica's chain.
    problems.push(
      problem(
        codes.keyNotValid,
        seq,
        where,
        `key "${key.kid}" signs chain "${key.chain}", not "${signed.chain}"`,
        {
          line,
          field: 'chain',
        },
      ),
    );
  }
  if (key.notBefore !== null && at < key.notBefore) {
    problems.push(
      problem(
        codes.keyNotValid,
        seq,
        where,
        `created_at ${signed.created_at} is before key "${key.kid}" became valid (nbf ${new Date(key.notBefore).toISOString()})`,
        { line, field: 'created_at' },
      ),
    );
  } else if (key.expires !== null && at >= key.expires) {
    problems.push(
      problem(
        codes.keyNotValid,
        seq,
        where,
        `created_at ${signed.created_at} is after key "${key.kid}" expired (exp ${new Date(key.expires).toISOString()})`,
        { line, field: 'created_at' },
      ),
    );
  }
  const sig = base64urlDecode(signed.sig)!; // shape-checked: canonical base64url of 64 bytes
  if (!hasCanonicalScalar(sig) || !backend.verifyEd25519(key.publicKey, message, sig)) {
    problems.push(
      problem(
        codes.signature,
        seq,
        where,
        `signature does not match (${what} edited or signed by another key)`,
        { line },
      ),
    );
  }
  return problems;
}

interface CheckedReceipt {
  receipt: SignedReceipt;
  hash: string;
  signatureProblems: Problem[];
}

type ReceiptCheck =
  | { ok: true; checked: CheckedReceipt }
  | { ok: false; problem: Problem; seq: number | null };

function checkReceipt(
  backend: CryptoBackend,
  findKey: KeyFinder,
  input: unknown,
  line: number | undefined,
): ReceiptCheck {
  const parsed = toInput(input);
  if (!parsed.ok) {
    return {
      ok: false,
      seq: null,
      problem: problem('ERR_RECEIPT_MALFORMED', null, whereOf(null, line), parsed.message, { line }),
    };
  }
  const shape = validateSignedReceipt(parsed.value);
  if (!shape.ok) {
    const seq = peekSeq(parsed.value);
    return {
      ok: false,
      seq,
      problem: problem('ERR_RECEIPT_MALFORMED', seq, whereOf(seq, line), shape.message, {
        line,
        field: shape.field,
      }),
    };
  }
  const receipt = shape.value;
  const signatureProblems = checkSignature(
    backend,
    findKey,
    receipt,
    receiptSigningMessage(receipt),
    RECEIPT_CODES,
    'receipt',
    receipt.seq,
    whereOf(receipt.seq, line),
    line,
  );
  return {
    ok: true,
    checked: { receipt, hash: computeReceiptHash(backend.sha256, receipt), signatureProblems },
  };
}

/** Verifies one receipt offline: shape, signer key, key validity window, signature. */
export function verifyReceiptWith(
  backend: CryptoBackend,
  receipt: unknown,
  keys: KeySource,
): ReceiptVerification {
  const findKey = resolveKeySource(keys);
  const result = checkReceipt(backend, findKey, receipt, undefined);
  if (!result.ok) return { valid: false, problems: [result.problem], receipt: null, hash: null };
  const { checked } = result;
  return {
    valid: checked.signatureProblems.length === 0,
    problems: checked.signatureProblems,
    receipt: checked.receipt,
    hash: checked.hash,
  };
}

/** Verifies a signed checkpoint offline: shape, signer key, key validity window, signature. */
export function verifyCheckpointWith(
  backend: CryptoBackend,
  checkpoint: unknown,
  keys: KeySource,
): CheckpointVerification {
  return checkCheckpoint(backend, resolveKeySource(keys), checkpoint);
}

function checkCheckpoint(backend: CryptoBackend, findKey: KeyFinder, input: unknown): CheckpointVerification {
  const parsed = toInput(input);
  if (!parsed.ok) {
    return {
      valid: false,
      checkpoint: null,
      problems: [problem('ERR_CHECKPOINT_MALFORMED', null, 'checkpoint', parsed.message)],
    };
  }
  const shape = validateSignedCheckpoint(parsed.value);
  if (!shape.ok) {
    return {
      valid: false,
      checkpoint: null,
      problems: [
        problem('ERR_CHECKPOINT_MALFORMED', null, 'checkpoint', shape.message, { field: shape.field }),
      ],
    };
  }
  const checkpoint = shape.value;
  const problems = checkSignature(
    backend,
    findKey,
    checkpoint,
    checkpointSigningMessage(checkpoint),
    CHECKPOINT_CODES,
    'checkpoint',
    null,
    'checkpoint',
    undefined,
  );
  return { valid: problems.length === 0, problems, checkpoint };
}

function differingFields(a: SignedReceipt, b: SignedReceipt): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  names.delete('sig');
  const ra = a as unknown as Record<string, unknown>;
  const rb = b as unknown as Record<string, unknown>;
  return [...names]
    .filter((name) => canonicalJson(ra[name] ?? null) !== canonicalJson(rb[name] ?? null))
    .sort();
}

/**
 * Incremental chain verification: feed receipts in file order with `add`, then `finish`.
 * Memory is one hash per receipt. All link checks are against hashes the verifier computed
 * itself; `seq`, `prev` and `chain` are attacker-controlled until the signature checks out.
 */
export class ChainVerifier {
  private readonly backend: CryptoBackend;
  private readonly findKey: KeyFinder;
  private readonly problems: Problem[] = [];
  private chainId: string | null;
  private genesis: string | null = null;
  private count = 0;
  private maxSeq = 0;
  private headHash: string | null = null;
  /** seq -> hashes of the receipts claiming it (more than one only for duplicates). */
  private readonly hashes = new Map<number, string[]>();
  /** Seqs whose receipt failed its signature check: their successors' prev mismatch is a consequence. */
  private readonly flagged = new Set<number>();
  private readonly malformedSeqs = new Set<number>();
  /** Receipts that arrived before their predecessor: seq -> their prev values, checked at the end. */
  private readonly awaiting = new Map<number, string[]>();
  private readonly checkpoint: SignedCheckpoint | null = null;
  private readonly anchor: CheckedReceipt | null = null;
  private anchorCounterpart: SignedReceipt | null = null;
  private finished = false;

  constructor(keys: KeySource, backend: CryptoBackend, options: Omit<ChainVerifyOptions, 'backend'> = {}) {
    if (options.chain !== undefined && (typeof options.chain !== 'string' || options.chain === '')) {
      throw new TypeError('options.chain must be a non-empty string');
    }
    this.backend = backend;
    this.findKey = resolveKeySource(keys);
    this.chainId = options.chain ?? null;

    if (options.checkpoint !== undefined) {
      const cp = checkCheckpoint(backend, this.findKey, options.checkpoint);
      this.problems.push(...cp.problems);
      if (cp.valid && cp.checkpoint !== null) {
        if (this.chainId !== null && cp.checkpoint.chain !== this.chainId) {
          this.problems.push(
            problem(
              'ERR_CHECKPOINT_CHAIN_MISMATCH',
              null,
              'checkpoint',
              `is for chain "${cp.checkpoint.chain}", not "${this.chainId}"`,
              { field: 'chain' },
            ),
          );
        } else {
          this.checkpoint = cp.checkpoint;
          this.chainId = cp.checkpoint.chain;
        }
      }
    }

    if (options.anchor !== undefined) {
      const result = checkReceipt(backend, this.findKey, options.anchor, undefined);
      if (!result.ok) {
        this.problems.push(
          problem(
            'ERR_ANCHOR_INVALID',
            result.seq,
            'anchor',
            result.problem.message.replace(/^[^:]*: /, ''),
            {
              field: result.problem.field,
            },
          ),
        );
      } else if (result.checked.signatureProblems.length > 0) {
        for (const p of result.checked.signatureProblems) {
          this.problems.push(
            problem(
              'ERR_ANCHOR_INVALID',
              result.checked.receipt.seq,
              'anchor',
              `${p.code}: ${p.message.replace(/^[^:]*: /, '')}`,
              { field: p.field },
            ),
          );
        }
      } else if (this.chainId !== null && result.checked.receipt.chain !== this.chainId) {
        this.problems.push(
          problem(
            'ERR_ANCHOR_INVALID',
            result.checked.receipt.seq,
            'anchor',
            `is from chain "${result.checked.receipt.chain}", not "${this.chainId}"`,
            { field: 'chain' },
          ),
        );
      } else {
        this.anchor = result.checked;
        this.chainId = result.checked.receipt.chain;
      }
    }
  }

  /** Adds the next receipt: a parsed object, or one JSONL line (blank lines are skipped). */
  add(item: unknown, line?: number): void {
    if (this.finished) throw new TypeError('ChainVerifier: add() after finish()');
    if (typeof item === 'string' && item.trim() === '') return;
    this.count++;
    const result = checkReceipt(this.backend, this.findKey, item, line);
    if (!result.ok) {
      this.problems.push(result.problem);
      if (result.seq !== null) this.malformedSeqs.add(result.seq);
      return;
    }
    const { receipt, hash, signatureProblems } = result.checked;
    const { seq } = receipt;
    const where = whereOf(seq, line);

    if (this.chainId === null) this.chainId = receipt.chain;
    if (receipt.chain !== this.chainId) {
      this.problems.push(
        problem('ERR_CHAIN_MIXED', seq, where, `belongs to chain "${receipt.chain}", not "${this.chainId}"`, {
          line,
          field: 'chain',
        }),
      );
      return;
    }
    this.problems.push(...signatureProblems);
    if (signatureProblems.length > 0) this.flagged.add(seq);

    const existing = this.hashes.get(seq);
    if (existing !== undefined) {
      if (existing.includes(hash)) {
        this.problems.push(
          problem('ERR_CHAIN_DUPLICATE_SEQ', seq, where, 'appears twice (identical copies)', { line }),
        );
        return;
      }
      this.problems.push(
        problem(
          'ERR_CHAIN_DUPLICATE_SEQ',
          seq,
          where,
          'two different receipts claim this seq (receipt inserted)',
          {
            line,
            field: 'seq',
          },
        ),
      );
      existing.push(hash);
    } else {
      if (seq < this.maxSeq) {
        this.problems.push(
          problem('ERR_CHAIN_ORDER', seq, where, `appears after seq ${this.maxSeq} (receipts reordered)`, {
            line,
            field: 'seq',
          }),
        );
      }
      this.hashes.set(seq, [hash]);
    }

    if (seq === 1) {
      this.genesis ??= computeGenesisHash(this.backend.sha256, this.chainId);
      if (receipt.prev !== this.genesis) {
        this.problems.push(
          problem(
            'ERR_CHAIN_PREV_MISMATCH',
            seq,
            where,
            `prev is not the genesis hash of chain "${this.chainId}" (receipt inserted or rewritten)`,
            { line, field: 'prev' },
          ),
        );
      }
    } else {
      const before = this.hashes.get(seq - 1);
      if (before === undefined) {
        const waiting = this.awaiting.get(seq);
        if (waiting === undefined) this.awaiting.set(seq, [receipt.prev]);
        else waiting.push(receipt.prev);
      } else if (!before.includes(receipt.prev) && !this.flagged.has(seq - 1)) {
        this.problems.push(this.prevMismatch(seq, where, line));
      }
    }

    if (this.anchor !== null && seq === this.anchor.receipt.seq) this.anchorCounterpart ??= receipt;
    if (seq > this.maxSeq) {
      this.maxSeq = seq;
      this.headHash = hash;
    }
  }

  private prevMismatch(seq: number, where: string, line: number | undefined): Problem {
    return problem(
      'ERR_CHAIN_PREV_MISMATCH',
      seq,
      where,
      `prev does not match the hash of seq ${seq - 1} (receipt inserted, or a link rewritten)`,
      { line, field: 'prev' },
    );
  }

  finish(): ChainVerification {
    if (this.finished) throw new TypeError('ChainVerifier: finish() called twice');
    this.finished = true;
    const problems = this.problems;

    if (this.count === 0) problems.push(problem('ERR_CHAIN_EMPTY', null, 'chain', 'no receipts'));

    // Links to predecessors that arrived later (reordered input). Missing ones are gaps below.
    for (const [seq, prevs] of this.awaiting) {
      const before = this.hashes.get(seq - 1);
      if (before === undefined || this.flagged.has(seq - 1)) continue;
      if (prevs.some((prev) => !before.includes(prev)))
        problems.push(this.prevMismatch(seq, `seq ${seq}`, undefined));
    }

    problems.push(...this.gaps());

    if (this.checkpoint !== null) {
      this.compareHead('checkpoint', this.checkpoint.seq, this.checkpoint.head, null);
    }
    if (this.anchor !== null) {
      this.compareHead('anchor receipt', this.anchor.receipt.seq, this.anchor.hash, this.anchor.receipt);
    }

    return {
      valid: problems.length === 0,
      count: this.count,
      head: this.headHash === null ? null : { seq: this.maxSeq, hash: this.headHash },
      problems,
    };
  }

  /** Missing seqs in 1..maxSeq, as ranges. Never iterates up to maxSeq (attacker-chosen). */
  private gaps(): Problem[] {
    const present = new Set(this.hashes.keys());
    // A malformed line stands for the seq it claims (it is reported as malformed, not also as
    // missing), but only within the valid receipts' range: a line claiming a seq past the head
    // must not make up, in the count below, for a receipt removed from the middle.
    for (const seq of this.malformedSeqs) {
      if (Number.isSafeInteger(seq) && seq >= 1 && seq <= this.maxSeq) present.add(seq);
    }
    if (present.size === this.maxSeq) return [];
    const sorted = [...present].sort((a, b) => a - b);
    const out: Problem[] = [];
    let last = 0;
    for (const seq of sorted) {
      if (seq > last + 1) {
        const from = last + 1;
        const to = seq - 1;
        const what =
          from === to ? 'missing' : `missing, and so are seq ${from + 1}..${to} (${to - from + 1} receipts)`;
        const context =
          last === 0 ? `the chain starts at seq ${seq}` : `the chain jumps from seq ${last} to seq ${seq}`;
        const removed = from === to ? 'receipt removed' : 'receipts removed';
        out.push(problem('ERR_CHAIN_GAP', from, `seq ${from}`, `${what}: ${context} (${removed})`));
      }
      last = seq;
    }
    return out;
  }

  private compareHead(kind: string, seq: number, hash: string, receipt: SignedReceipt | null): void {
    if (seq > this.maxSeq) {
      const missing = seq - this.maxSeq;
      this.problems.push(
        problem(
          'ERR_CHAIN_TRUNCATED',
          this.maxSeq + 1,
          `seq ${this.maxSeq + 1}`,
          `${this.maxSeq === 0 ? 'the chain is empty' : `the chain ends at seq ${this.maxSeq}`} but the ${kind} covers seq ${seq} (${missing} newest receipt${missing === 1 ? '' : 's'} cut off)`,
        ),
      );
      return;
    }
    const candidates = this.hashes.get(seq);
    // Missing or already flagged at that seq: reported above, a second problem would add nothing.
    if (candidates === undefined || this.flagged.has(seq) || candidates.includes(hash)) return;
    let detail = `hash differs from the ${kind} (chain rewritten from here or earlier: a forked or replaced tail)`;
    if (receipt !== null && this.anchorCounterpart !== null) {
      const fields = differingFields(receipt, this.anchorCounterpart);
      if (fields.length > 0) detail += `; fields differing from the anchor: ${fields.join(', ')}`;
    }
    this.problems.push(problem('ERR_CHAIN_FORKED', seq, `seq ${seq}`, detail));
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

export function verifyChainWith(
  backend: CryptoBackend,
  receipts: Iterable<unknown> | AsyncIterable<unknown>,
  keys: KeySource,
  options: ChainVerifyOptions,
): ChainVerification | Promise<ChainVerification> {
  const verifier = new ChainVerifier(keys, backend, options);
  const lineOf = (item: unknown, index: number) => (typeof item === 'string' ? index + 1 : undefined);
  if (
    typeof receipts === 'string' ||
    (!isAsyncIterable(receipts) && !(Symbol.iterator in Object(receipts)))
  ) {
    throw new TypeError('receipts must be an iterable or async iterable of receipts or JSONL lines');
  }
  if (Symbol.iterator in Object(receipts) && !isAsyncIterable(receipts)) {
    let index = 0;
    for (const item of receipts as Iterable<unknown>) verifier.add(item, lineOf(item, index++));
    return verifier.finish();
  }
  return (async () => {
    let index = 0;
    for await (const item of receipts as AsyncIterable<unknown>) verifier.add(item, lineOf(item, index++));
    return verifier.finish();
  })();
}
