import { canonicalJson } from './canonical-json.js';
import { concatBytes, hexEncode, utf8 } from './encoding.js';
import { ReceiptError } from './errors.js';
import {
  CHECKPOINT_SIGNING_PREFIX,
  type ChainHead,
  type CheckpointBody,
  RECEIPT_GENESIS_PREFIX,
  RECEIPT_HASH_PREFIX,
  RECEIPT_SIGNING_PREFIX,
  RECEIPT_VERSION,
  type ReceiptBody,
  type ReceiptFields,
  type SignedReceipt,
  toTimestamp,
  type UnsignedReceipt,
  validateReceiptBody,
  withoutSig,
} from './format.js';

export type Sha256 = (data: Uint8Array) => Uint8Array;

const RECEIPT_SIGNING_PREFIX_BYTES = utf8(RECEIPT_SIGNING_PREFIX);
const CHECKPOINT_SIGNING_PREFIX_BYTES = utf8(CHECKPOINT_SIGNING_PREFIX);
const HASH_PREFIX_BYTES = utf8(RECEIPT_HASH_PREFIX);
const GENESIS_PREFIX_BYTES = utf8(RECEIPT_GENESIS_PREFIX);

/** The exact bytes Ed25519 signs for a receipt: prefix + RFC 8785 JSON of the body (no `sig`). */
export function receiptSigningMessage(body: ReceiptBody | SignedReceipt): Uint8Array {
  const unsigned = 'sig' in body ? withoutSig(body) : body;
  return concatBytes(RECEIPT_SIGNING_PREFIX_BYTES, utf8(canonicalJson(unsigned)));
}

/** The exact bytes Ed25519 signs for a checkpoint. */
export function checkpointSigningMessage(body: CheckpointBody): Uint8Array {
  const unsigned = 'sig' in body ? withoutSig(body as CheckpointBody & { sig: string }) : body;
  return concatBytes(CHECKPOINT_SIGNING_PREFIX_BYTES, utf8(canonicalJson(unsigned)));
}

/**
 * One pass from fields to a signed, hashed receipt: validated once, canonicalised once. The
 * canonical form of the signed receipt is the body's with `"sig"` inserted where RFC 8785 sorts
 * it (between "seq" and "signer_kid"; no other key of the strict format falls in between), so
 * the hash input needs no second canonicalisation. A property test checks it against
 * canonicalJson of the signed receipt.
 */
export function sealNextReceipt(
  sha: Sha256,
  signBytes: (message: Uint8Array) => string,
  kid: string,
  head: ChainHead | null,
  chainId: string,
  fields: ReceiptFields,
): { receipt: SignedReceipt; hash: string; json: string } {
  const body: ReceiptBody = { ...buildNextReceipt(sha, head, chainId, fields), signer_kid: kid };
  const canonical = canonicalJson(body);
  const sig = signBytes(concatBytes(RECEIPT_SIGNING_PREFIX_BYTES, utf8(canonical)));
  const marker = ',"signer_kid":';
  const at = canonical.lastIndexOf(marker);
  const json = `${canonical.slice(0, at)},"sig":${JSON.stringify(sig)}${canonical.slice(at)}`;
  return {
    receipt: { ...body, sig },
    hash: hexEncode(sha(concatBytes(HASH_PREFIX_BYTES, utf8(json)))),
    json,
  };
}

export function computeReceiptHash(sha: Sha256, signed: SignedReceipt): string {
  return hexEncode(sha(concatBytes(HASH_PREFIX_BYTES, utf8(canonicalJson(signed)))));
}

export function computeGenesisHash(sha: Sha256, chainId: string): string {
  return hexEncode(sha(concatBytes(GENESIS_PREFIX_BYTES, utf8(chainId))));
}

const HASH_RE = /^[0-9a-f]{64}$/;

/**
 * The next body of a chain: seq = head.seq + 1 and prev = head.hash, or seq 1 and the genesis
 * hash when head is null. Pure: the caller supplies created_at. Throws ReceiptError
 * ERR_RECEIPT_MALFORMED naming the field when a field is invalid.
 */
export function buildNextReceipt(
  sha: Sha256,
  head: ChainHead | null,
  chainId: string,
  fields: ReceiptFields,
): UnsignedReceipt {
  if (head !== null) {
    if (!Number.isSafeInteger(head.seq) || head.seq < 1)
      throw new TypeError('head.seq must be an integer >= 1');
    if (typeof head.hash !== 'string' || !HASH_RE.test(head.hash)) {
      throw new TypeError('head.hash must be a receipt hash (64 lower-case hex digits)');
    }
  }
  if (typeof chainId !== 'string' || chainId === '')
    throw new TypeError('chainId must be a non-empty string');
  for (const reserved of ['v', 'chain', 'seq', 'prev', 'sig']) {
    if (Object.hasOwn(fields, reserved))
      throw new TypeError(`fields.${reserved} is set by the chain, not the caller`);
  }
  const body: UnsignedReceipt = {
    v: RECEIPT_VERSION,
    chain: chainId,
    seq: head === null ? 1 : head.seq + 1,
    prev: head === null ? computeGenesisHash(sha, chainId) : head.hash,
    ...fields,
    created_at: toTimestamp(fields.created_at, 'created_at'),
  };
  // Fail here, at the caller's line, rather than at signing time.
  const check = validateReceiptBody({ ...body, signer_kid: body.signer_kid ?? 'unsigned' });
  if (!check.ok) {
    throw new ReceiptError({
      code: 'ERR_RECEIPT_MALFORMED',
      message: `receipt: ${check.message}`,
      ...(check.field === undefined ? {} : { field: check.field }),
    });
  }
  return body;
}
