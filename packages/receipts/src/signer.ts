import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hash,
  type KeyObject,
  sign,
} from 'node:crypto';
import { nodeCryptoBackend } from './backend-node.js';
import {
  checkpointSigningMessage,
  receiptSigningMessage,
  type SealCrypto,
  sealNextReceipt,
} from './chain.js';
import { base64urlEncode } from './encoding.js';
import { ReceiptError } from './errors.js';
import {
  CHECKPOINT_VERSION,
  type ChainHead,
  type CheckpointBody,
  type CheckpointInput,
  type ReceiptBody,
  type ReceiptFields,
  type SignedCheckpoint,
  type SignedReceipt,
  toTimestamp,
  type UnsignedReceipt,
  validateCheckpointBody,
  validateReceiptBody,
} from './format.js';
import { jwkThumbprint, type PublicJwk } from './keys.js';

export interface ReceiptSigner {
  /** RFC 7638 thumbprint of the public key; written into every receipt as `signer_kid`. */
  readonly kid: string;
  /** Public half, ready to publish in a JWKS (add nbf/exp there to bound its validity). */
  readonly publicJwk: PublicJwk;
  /** Validates the body strictly, sets signer_kid, signs. Throws ERR_RECEIPT_MALFORMED naming the field. */
  sign(body: UnsignedReceipt): SignedReceipt;
  /**
   * nextReceipt + sign + receiptHash in one pass (the hot path of a service appending to its
   * chain): returns the signed receipt, its hash and its canonical JSON text.
   */
  signNext(
    head: ChainHead | null,
    chainId: string,
    fields: ReceiptFields,
  ): { receipt: SignedReceipt; hash: string; json: string };
  /** Signs `(chain, seq, head)`; created_at defaults to now. Throws ERR_CHECKPOINT_MALFORMED naming the field. */
  signCheckpoint(checkpoint: CheckpointInput): SignedCheckpoint;
}

export interface GeneratedSigningKey {
  /** PKCS#8 PEM. A secret: store it like one. */
  privateKeyPem: string;
  publicJwk: PublicJwk;
  kid: string;
}

function toPrivateKey(privateKey: KeyObject | string): KeyObject {
  let key: KeyObject;
  if (typeof privateKey === 'string') {
    try {
      key = createPrivateKey(privateKey);
    } catch (cause) {
      throw new TypeError('privateKey: not a PEM private key', { cause });
    }
  } else {
    key = privateKey;
  }
  if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('privateKey: must be an Ed25519 private key');
  }
  return key;
}

function publicJwkOf(key: KeyObject): PublicJwk {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new TypeError('privateKey: cannot derive the public key');
  const base = { kty: 'OKP', crv: 'Ed25519', x: jwk.x } as const;
  return { ...base, kid: jwkThumbprint(base), alg: 'EdDSA', use: 'sig' };
}

function malformed(
  code: 'ERR_RECEIPT_MALFORMED' | 'ERR_CHECKPOINT_MALFORMED',
  what: string,
  check: { field: string | undefined; message: string },
): ReceiptError {
  return new ReceiptError({
    code,
    message: `${what}: ${check.message}`,
    ...(check.field === undefined ? {} : { field: check.field }),
  });
}

/** A signer over node:crypto Ed25519 (OpenSSL, ~50 µs per signature). */
export function createReceiptSigner(privateKey: KeyObject | string): ReceiptSigner {
  const key = toPrivateKey(privateKey);
  const publicJwk = Object.freeze(publicJwkOf(key));
  const kid = publicJwk.kid;

  const signBytes = (message: Uint8Array): string =>
    base64urlEncode(new Uint8Array(sign(null, message, key)));
  // The hot path of signNext: straight from text to OpenSSL, no intermediate byte copies.
  const sealCrypto: SealCrypto = {
    sha: nodeCryptoBackend.sha256,
    hashHex: (text) => hash('sha256', text, 'hex'),
    signText: (text) => sign(null, Buffer.from(text, 'utf8'), key).toString('base64url'),
  };

  return Object.freeze({
    kid,
    publicJwk,
    signNext(head: ChainHead | null, chainId: string, fields: ReceiptFields) {
      return sealNextReceipt(sealCrypto, kid, head, chainId, fields);
    },
    sign(draft: UnsignedReceipt): SignedReceipt {
      if (draft.signer_kid !== undefined && draft.signer_kid !== kid) {
        throw new TypeError(`body.signer_kid "${draft.signer_kid}" is not this signer's kid "${kid}"`);
      }
      if (typeof draft === 'object' && draft !== null && Object.hasOwn(draft, 'sig')) {
        throw new TypeError('body is already signed (has "sig")');
      }
      const check = validateReceiptBody({ ...draft, signer_kid: kid });
      if (!check.ok) throw malformed('ERR_RECEIPT_MALFORMED', 'receipt', check);
      const body: ReceiptBody = check.value;
      return { ...body, sig: signBytes(receiptSigningMessage(body)) };
    },
    signCheckpoint(input: CheckpointInput): SignedCheckpoint {
      const candidate = {
        v: CHECKPOINT_VERSION,
        chain: input.chain,
        seq: input.seq,
        head: input.head,
        created_at: toTimestamp(input.created_at ?? new Date(), 'created_at'),
        signer_kid: kid,
      };
      const check = validateCheckpointBody(candidate);
      if (!check.ok) throw malformed('ERR_CHECKPOINT_MALFORMED', 'checkpoint', check);
      const body: CheckpointBody = check.value;
      return { ...body, sig: signBytes(checkpointSigningMessage(body)) };
    },
  });
}

/** A fresh Ed25519 key pair for receipts. */
export function generateSigningKey(): GeneratedSigningKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicJwk = publicJwkOf(privateKey);
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicJwk,
    kid: publicJwk.kid,
  };
}

/** One receipt of a sealed sequence: the signed receipt's exact JSON and its chain hash. */
export interface SealedChainReceipt {
  chain: string;
  seq: number;
  hash: string;
  /** The signed receipt, canonical JSON (what is stored and what verifyChain reads). */
  body: string;
}

/** Signs receipt fields in order after a chain head (the receipt sealer an execution store takes). */
export interface ChainSealer {
  readonly chain: string;
  seal(head: ChainHead | null, drafts: ReadonlyArray<{ fields: unknown }>): SealedChainReceipt[];
}

/**
 * A ChainSealer from a PKCS#8 PEM: plain-data arguments, so that another thread (the execution
 * store's SQLite write thread) can build its own from a module URL and the same arguments.
 */
export function createChainSealer(privateKeyPem: string, chain: string): ChainSealer {
  const signer = createReceiptSigner(privateKeyPem);
  return Object.freeze({
    chain,
    seal(head: ChainHead | null, drafts: ReadonlyArray<{ fields: unknown }>) {
      let current = head;
      return drafts.map((draft) => {
        const { receipt, hash, json } = signer.signNext(current, chain, draft.fields as ReceiptFields);
        current = { seq: receipt.seq, hash };
        return { chain, seq: receipt.seq, hash, body: json };
      });
    },
  });
}
