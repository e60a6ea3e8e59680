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

/** What sealNextReceipt needs from a crypto backend, on text (hashed and signed as UTF-8). */
export interface SealCrypto {
  sha: Sha256;
  /** Lower-case hex SHA-256 of the UTF-8 bytes of `text`. */
  hashHex(text: string): string;
  /** base64url Ed25519 signature of the UTF-8 bytes of `text`. */
  signText(text: string): string;
}

/**
 * One pass from fields to a signed, hashed receipt: validated once, serialised once. The
 * canonical form of the signed receipt is the body's with `"sig"` inserted where RFC 8785 sorts
 * it (between "seq" and "signer_kid"; no other key of the strict format falls in between), so
 * the hash input needs no second canonicalisation. A property test checks it against
 * canonicalJson of the signed receipt.
 */
export function sealNextReceipt(
  crypto: SealCrypto,
  kid: string,
  head: ChainHead | null,
  chainId: string,
  fields: ReceiptFields,
): { receipt: SignedReceipt; hash: string; json: string } {
  const body = nextReceiptBody(crypto.sha, head, chainId, fields, kid);
  const [beforeSig, afterSig] = validatedReceiptBodyJson(body);
  const sig = crypto.signText(`${RECEIPT_SIGNING_PREFIX}${beforeSig}${afterSig}`);
  const json = `${beforeSig},"sig":${JSON.stringify(sig)}${afterSig}`;
  return {
    receipt: { ...body, sig },
    hash: crypto.hashHex(`${RECEIPT_HASH_PREFIX}${json}`),
    json,
  };
}

const str = JSON.stringify;

/**
 * canonicalJson of a receipt body that passed validateReceiptBody, written out in RFC 8785
 * key order (the strict format fixes every key, so nothing needs sorting) and split where
 * `"sig"` sorts in. For strings and finite numbers JSON.stringify is what RFC 8785 prescribes
 * (validation has refused lone surrogates and non-finite numbers). A property test checks the
 * joined text against canonicalJson.
 */
function validatedReceiptBodyJson(b: ReceiptBody): [beforeSig: string, afterSig: string] {
  const a = b.approval;
  const r = b.run;
  const approval = a === null ? 'null' : `{"id":${str(a.id)},"issuer":${str(a.issuer)},"kid":${str(a.kid)}}`;
  const run =
    r === null
      ? 'null'
      : `{"cpu_ms":${str(r.cpu_ms)},"duration_ms":${str(r.duration_ms)},"exit_code":${str(r.exit_code)},` +
        `"max_rss_kib":${str(r.max_rss_kib)},"signal":${str(r.signal)}}`;
  return [
    `{"action":${str(b.action)},"approval":${approval},"chain":${str(b.chain)},"created_at":${str(b.created_at)},` +
      `"error_code":${str(b.error_code)},"exec_id":${str(b.exec_id)},"isolation":${str(b.isolation)},` +
      `"mode":${str(b.mode)},"nonce":${str(b.nonce)},"outcome":${str(b.outcome)},"prev":${str(b.prev)},` +
      `"request_digest":${str(b.request_digest)},"result_digest":${str(b.result_digest)},"run":${run},` +
      `"seq":${str(b.seq)}`,
    `,"signer_kid":${str(b.signer_kid)},"tenant":${str(b.tenant)},"v":${str(b.v)}}`,
  ];
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
  const body = nextBody(sha, head, chainId, fields);
  // Fail here, at the caller's line, rather than at signing time.
  validatedBody({ ...body, signer_kid: body.signer_kid ?? 'unsigned' });
  return body;
}

/**
 * buildNextReceipt with the signer's kid in it, validated once and not copied (sealing builds
 * one per receipt). A kid among the fields is checked as before and then replaced, as it was.
 */
function nextReceiptBody(
  sha: Sha256,
  head: ChainHead | null,
  chainId: string,
  fields: ReceiptFields,
  kid: string,
): ReceiptBody {
  if (Object.hasOwn(fields, 'signer_kid'))
    return { ...buildNextReceipt(sha, head, chainId, fields), signer_kid: kid };
  return validatedBody({ ...nextBody(sha, head, chainId, fields), signer_kid: kid });
}

function nextBody(
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
  for (const reserved of RESERVED_FIELDS) {
    if (Object.hasOwn(fields, reserved))
      throw new TypeError(`fields.${reserved} is set by the chain, not the caller`);
  }
  return {
    v: RECEIPT_VERSION,
    chain: chainId,
    seq: head === null ? 1 : head.seq + 1,
    prev: head === null ? computeGenesisHash(sha, chainId) : head.hash,
    ...fields,
    created_at: toTimestamp(fields.created_at, 'created_at'),
  };
}

const RESERVED_FIELDS = ['v', 'chain', 'seq', 'prev', 'sig'] as const;

function validatedBody(body: UnsignedReceipt & { signer_kid: string }): ReceiptBody {
  const check = validateReceiptBody(body);
  if (!check.ok) {
    throw new ReceiptError({
      code: 'ERR_RECEIPT_MALFORMED',
      message: `receipt: ${check.message}`,
      ...(check.field === undefined ? {} : { field: check.field }),
    });
  }
  return check.value;
}
