/**
 * Stable codes for everything verification can find wrong. Callers `switch` on these; the
 * strings never change meaning within a major version.
 */
export type ReceiptProblemCode =
  // one receipt
  | 'ERR_RECEIPT_MALFORMED'
  | 'ERR_RECEIPT_SIGNATURE_INVALID'
  | 'ERR_RECEIPT_UNKNOWN_KEY'
  | 'ERR_RECEIPT_KEY_NOT_VALID'
  // a chain of receipts
  | 'ERR_CHAIN_EMPTY'
  | 'ERR_CHAIN_GAP'
  | 'ERR_CHAIN_ORDER'
  | 'ERR_CHAIN_PREV_MISMATCH'
  | 'ERR_CHAIN_DUPLICATE_SEQ'
  | 'ERR_CHAIN_MIXED'
  | 'ERR_CHAIN_TRUNCATED'
  | 'ERR_CHAIN_FORKED'
  // the external anchors of a chain's head
  | 'ERR_CHECKPOINT_MALFORMED'
  | 'ERR_CHECKPOINT_SIGNATURE_INVALID'
  | 'ERR_CHECKPOINT_UNKNOWN_KEY'
  | 'ERR_CHECKPOINT_KEY_NOT_VALID'
  | 'ERR_CHECKPOINT_CHAIN_MISMATCH'
  | 'ERR_ANCHOR_INVALID';

/** Codes of thrown errors: problems plus a bad key set. */
export type ReceiptErrorCode = ReceiptProblemCode | 'ERR_JWKS_INVALID';

/**
 * One thing wrong with a receipt, a chain or its anchors. `seq` is the sequence number the
 * problem is about when it is known; `line` is the 1-based input line for JSONL input;
 * `field` names the offending field when one is determinable.
 */
export interface Problem {
  seq: number | null;
  line?: number;
  field?: string;
  code: ReceiptProblemCode;
  /** `<where>: <detail>`, e.g. `seq 17: signature does not match (...)`. */
  message: string;
}

export class ReceiptError extends Error {
  readonly code: ReceiptErrorCode;
  readonly field: string | undefined;

  constructor(options: { code: ReceiptErrorCode; message: string; field?: string; cause?: unknown }) {
    super(options.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ReceiptError';
    this.code = options.code;
    this.field = options.field;
  }
}

/** `seq 17: ERR_RECEIPT_SIGNATURE_INVALID: signature does not match (...)` -- the CLI's line format. */
export function formatProblem(problem: Problem): string {
  const cut = problem.message.indexOf(': ');
  if (cut < 0) return `${problem.code}: ${problem.message}`;
  return `${problem.message.slice(0, cut)}: ${problem.code}: ${problem.message.slice(cut + 2)}`;
}
