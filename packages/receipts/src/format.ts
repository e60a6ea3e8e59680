import { isWellFormedString } from './canonical-json.js';
import { base64urlDecode } from './encoding.js';
import { ReceiptError } from './errors.js';

// --- Versions and hash/signature domain prefixes -------------------------------------------
// Each use of SHA-256 or Ed25519 gets its own prefix, so a signature or hash made for one
// purpose can never be replayed as another (a receipt signature is not a checkpoint signature,
// a receipt hash is not a genesis value).

export const RECEIPT_VERSION = 'openexec-receipt/1';
export const CHECKPOINT_VERSION = 'openexec-checkpoint/1';
/** Ed25519 signs `RECEIPT_SIGNING_PREFIX + canonicalJson(receipt without sig)`. */
export const RECEIPT_SIGNING_PREFIX = 'openexec-receipt-v1\n';
/** A receipt's hash is hex SHA-256 of `RECEIPT_HASH_PREFIX + canonicalJson(signed receipt)`. */
export const RECEIPT_HASH_PREFIX = 'openexec-receipt-hash-v1\n';
/** `prev` of seq 1 is hex SHA-256 of `RECEIPT_GENESIS_PREFIX + chain id`. */
export const RECEIPT_GENESIS_PREFIX = 'openexec-receipt-genesis-v1\n';
/** Ed25519 signs `CHECKPOINT_SIGNING_PREFIX + canonicalJson(checkpoint without sig)`. */
export const CHECKPOINT_SIGNING_PREFIX = 'openexec-checkpoint-v1\n';

// --- Types --------------------------------------------------------------------------------------

export type ReceiptMode = 'demo' | 'clawshield';
export type ReceiptOutcome = 'succeeded' | 'failed' | 'approval_denied' | 'replay_denied' | 'indeterminate';

export const RECEIPT_MODES: readonly ReceiptMode[] = ['demo', 'clawshield'];
export const RECEIPT_OUTCOMES: readonly ReceiptOutcome[] = [
  'succeeded',
  'failed',
  'approval_denied',
  'replay_denied',
  'indeterminate',
];

export interface ReceiptApproval {
  id: string;
  issuer: string;
  /** Key id the approval was signed with; null for approval formats without one. */
  kid: string | null;
}

/** Everything that is signed. Field order here is irrelevant: the signed form is RFC 8785. */
export interface ReceiptBody {
  v: typeof RECEIPT_VERSION;
  chain: string;
  /** 1, 2, 3, ... without gaps within one chain. */
  seq: number;
  /** Hash of receipt seq-1 of this chain (lower-case hex SHA-256); the genesis hash for seq 1. */
  prev: string;
  exec_id: string | null;
  tenant: string;
  nonce: string;
  action: string;
  request_digest: string;
  approval: ReceiptApproval | null;
  mode: ReceiptMode;
  outcome: ReceiptOutcome;
  result_digest: string | null;
  error_code: string | null;
  isolation: string | null;
  /** What a process-running handler reported: exit, duration, resources; null otherwise. */
  run: ReceiptRun | null;
  /** RFC 3339 UTC with millisecond precision: `2025-01-31T12:00:00.000Z`. */
  created_at: string;
  signer_kid: string;
}

export interface ReceiptRun {
  exit_code: number | null;
  signal: string | null;
  duration_ms: number;
  max_rss_kib: number | null;
  cpu_ms: number | null;
}

export interface SignedReceipt extends ReceiptBody {
  /** base64url (unpadded) Ed25519 signature over RECEIPT_SIGNING_PREFIX + canonical body. */
  sig: string;
}

/** A body still to be signed: the signer fills in `signer_kid`. */
export type UnsignedReceipt = Omit<ReceiptBody, 'signer_kid'> & { signer_kid?: string };

/** What the caller supplies per receipt; `nextReceipt` adds v, chain, seq and prev. */
export type ReceiptFields = Omit<
  ReceiptBody,
  'v' | 'chain' | 'seq' | 'prev' | 'signer_kid' | 'created_at'
> & {
  created_at: string | Date;
};

export interface CheckpointBody {
  v: typeof CHECKPOINT_VERSION;
  chain: string;
  seq: number;
  /** Hash of the chain's receipt at `seq`. */
  head: string;
  created_at: string;
  signer_kid: string;
}

export interface SignedCheckpoint extends CheckpointBody {
  sig: string;
}

/** What the caller supplies to sign a checkpoint; created_at defaults to now. */
export interface CheckpointInput {
  chain: string;
  seq: number;
  head: string;
  created_at?: string | Date;
}

/** Position of a chain's newest receipt. */
export interface ChainHead {
  seq: number;
  hash: string;
}

// --- Validation -----------------------------------------------------------------------------------
// Receipts arrive from files and networks: parse defensively, name the first bad field.

type Check = (value: unknown) => string | null;

const HASH_RE = /^[0-9a-f]{64}$/;
const TIMESTAMP_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (typeof value === 'string')
    return `got ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
  if (value === null) return 'got null';
  if (Array.isArray(value)) return 'got an array';
  return `got ${typeof value === 'object' ? 'an object' : typeof value === 'number' ? value : typeof value}`;
}

const string: Check = (v) =>
  typeof v !== 'string'
    ? `must be a string (${describe(v)})`
    : isWellFormedString(v)
      ? null
      : 'must be well-formed Unicode';
const nonEmptyString: Check = (v) => string(v) ?? (v === '' ? 'must not be empty' : null);
const nullable =
  (check: Check): Check =>
  (v) =>
    v === null ? null : v === undefined ? 'missing (use null for none)' : check(v);
const literal =
  (expected: string): Check =>
  (v) =>
    v === expected ? null : `must be ${JSON.stringify(expected)} (${describe(v)})`;
const oneOf =
  (allowed: readonly string[]): Check =>
  (v) =>
    typeof v === 'string' && allowed.includes(v)
      ? null
      : `must be one of ${allowed.join(', ')} (${describe(v)})`;
const nonNegative: Check = (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0
    ? null
    : `must be a finite number >= 0 (${describe(v)})`;
const integer: Check = (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) ? null : `must be an integer (${describe(v)})`;
const seqNumber: Check = (v) =>
  typeof v === 'number' && Number.isSafeInteger(v) && v >= 1
    ? null
    : `must be an integer >= 1 (${describe(v)})`;
const hash: Check = (v) =>
  typeof v === 'string' && HASH_RE.test(v) ? null : `must be 64 lower-case hex digits (${describe(v)})`;
const signature: Check = (v) => {
  if (typeof v !== 'string') return `must be a base64url string (${describe(v)})`;
  const bytes = base64urlDecode(v);
  if (bytes === null) return 'must be unpadded, canonical base64url';
  return bytes.length === 64 ? null : `must encode 64 bytes (got ${bytes.length})`;
};

export function isTimestamp(v: unknown): v is string {
  if (typeof v !== 'string' || !TIMESTAMP_RE.test(v)) return false;
  const ms = Date.parse(v);
  // Round-trip rejects impossible dates such as 2025-02-30 that Date.parse would roll over.
  return Number.isFinite(ms) && new Date(ms).toISOString() === v;
}
const timestamp: Check = (v) =>
  isTimestamp(v)
    ? null
    : `must be an RFC 3339 UTC timestamp with milliseconds, e.g. 2025-01-31T12:00:00.000Z (${describe(v)})`;

interface Shape {
  readonly [field: string]: Check | Shape;
}

const APPROVAL_SHAPE: Shape = { id: nonEmptyString, issuer: string, kid: nullable(string) };
const RUN_SHAPE: Shape = {
  exit_code: nullable(integer),
  signal: nullable(string),
  duration_ms: nonNegative,
  max_rss_kib: nullable(nonNegative),
  cpu_ms: nullable(nonNegative),
};

const RECEIPT_BODY_SHAPE: Shape = {
  v: literal(RECEIPT_VERSION),
  chain: nonEmptyString,
  seq: seqNumber,
  prev: hash,
  exec_id: nullable(string),
  tenant: string,
  nonce: nonEmptyString,
  action: nonEmptyString,
  request_digest: nonEmptyString,
  approval: APPROVAL_SHAPE,
  mode: oneOf(RECEIPT_MODES),
  outcome: oneOf(RECEIPT_OUTCOMES),
  result_digest: nullable(string),
  error_code: nullable(string),
  isolation: nullable(string),
  run: RUN_SHAPE,
  created_at: timestamp,
  signer_kid: nonEmptyString,
};
const SIGNED_RECEIPT_SHAPE: Shape = { ...RECEIPT_BODY_SHAPE, sig: signature };

const CHECKPOINT_BODY_SHAPE: Shape = {
  v: literal(CHECKPOINT_VERSION),
  chain: nonEmptyString,
  seq: seqNumber,
  head: hash,
  created_at: timestamp,
  signer_kid: nonEmptyString,
};
const SIGNED_CHECKPOINT_SHAPE: Shape = { ...CHECKPOINT_BODY_SHAPE, sig: signature };

const NULLABLE_OBJECTS = new Set(['approval', 'run']);

export type ValidationResult<T> =
  | { ok: true; value: T }
  | { ok: false; field: string | undefined; message: string };

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// A shape's entries, listed once: checkShape runs for every receipt sealed.
const shapeEntries = new WeakMap<Shape, ReadonlyArray<readonly [string, Check | Shape]>>();
function entriesOf(shape: Shape): ReadonlyArray<readonly [string, Check | Shape]> {
  let entries = shapeEntries.get(shape);
  if (!entries) {
    entries = Object.entries(shape);
    shapeEntries.set(shape, entries);
  }
  return entries;
}

function checkShape(value: unknown, shape: Shape, path: string): { field: string; message: string } | null {
  if (!isPlainObject(value)) return { field: path, message: `must be a JSON object (${describe(value)})` };
  for (const [key, check] of entriesOf(shape)) {
    const field = path === '' ? key : `${path}.${key}`;
    const present = Object.hasOwn(value, key);
    const item = present ? value[key] : undefined;
    if (typeof check === 'function') {
      const problem = check(item);
      if (problem !== null) return { field, message: problem };
    } else if (item === null && NULLABLE_OBJECTS.has(key)) {
      // approval: null when no approval was involved (demo mode, or denied before parsing one)
    } else if (item === undefined) {
      return { field, message: 'missing' };
    } else {
      const nested = checkShape(item, check, field);
      if (nested !== null) return nested;
    }
  }
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(shape, key)) {
      return { field: path === '' ? key : `${path}.${key}`, message: 'is not a known field' };
    }
  }
  return null;
}

function validate<T>(value: unknown, shape: Shape): ValidationResult<T> {
  const problem = checkShape(value, shape, '');
  if (problem === null) return { ok: true, value: value as T };
  const field = problem.field === '' ? undefined : problem.field;
  const message = field === undefined ? problem.message : `field "${field}" ${problem.message}`;
  return { ok: false, field, message };
}

export function validateSignedReceipt(value: unknown): ValidationResult<SignedReceipt> {
  return validate(value, SIGNED_RECEIPT_SHAPE);
}
export function validateReceiptBody(value: unknown): ValidationResult<ReceiptBody> {
  return validate(value, RECEIPT_BODY_SHAPE);
}
export function validateSignedCheckpoint(value: unknown): ValidationResult<SignedCheckpoint> {
  return validate(value, SIGNED_CHECKPOINT_SHAPE);
}
export function validateCheckpointBody(value: unknown): ValidationResult<CheckpointBody> {
  return validate(value, CHECKPOINT_BODY_SHAPE);
}

function orThrow<T>(
  result: ValidationResult<T>,
  code: 'ERR_RECEIPT_MALFORMED' | 'ERR_CHECKPOINT_MALFORMED',
  what: string,
): T {
  if (result.ok) return result.value;
  throw new ReceiptError({
    code,
    message: `${what}: ${result.message}`,
    ...(result.field === undefined ? {} : { field: result.field }),
  });
}

/** Checks a parsed signed receipt strictly (no unknown fields); throws ERR_RECEIPT_MALFORMED naming the field. */
export function parseReceipt(value: unknown): SignedReceipt {
  return orThrow(validateSignedReceipt(value), 'ERR_RECEIPT_MALFORMED', 'receipt');
}
/** Same as parseReceipt for a body without `sig`. */
export function parseReceiptBody(value: unknown): ReceiptBody {
  return orThrow(validateReceiptBody(value), 'ERR_RECEIPT_MALFORMED', 'receipt');
}
/** Checks a parsed signed checkpoint strictly; throws ERR_CHECKPOINT_MALFORMED naming the field. */
export function parseCheckpoint(value: unknown): SignedCheckpoint {
  return orThrow(validateSignedCheckpoint(value), 'ERR_CHECKPOINT_MALFORMED', 'checkpoint');
}

/** Reads `seq` from untrusted input, for naming the receipt in a problem; null when unusable. */
export function peekSeq(value: unknown): number | null {
  if (!isPlainObject(value)) return null;
  const seq = value.seq;
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 1 ? seq : null;
}

export function toTimestamp(value: string | Date, what: string): string {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError(`${what}: invalid Date`);
    return value.toISOString();
  }
  if (!isTimestamp(value))
    throw new TypeError(`${what}: must be a Date or an RFC 3339 UTC timestamp with milliseconds`);
  return value;
}

export function withoutSig<T extends { sig: string }>(signed: T): Omit<T, 'sig'> {
  const { sig: _sig, ...body } = signed;
  return body;
}
