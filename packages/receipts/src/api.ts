import type { CryptoBackend } from './backend.js';
import { buildNextReceipt, computeGenesisHash, computeReceiptHash } from './chain.js';
import type { ChainHead, ReceiptFields, SignedReceipt, UnsignedReceipt } from './format.js';
import type { KeySource } from './keys.js';
import {
  type ChainVerification,
  ChainVerifier,
  type ChainVerifyOptions,
  type CheckpointVerification,
  type ReceiptVerification,
  type VerifyOptions,
  verifyChainWith,
  verifyCheckpointWith,
  verifyReceiptWith,
} from './verify.js';

/**
 * Builds the binding of the public functions to a default backend; the node entry makes the
 * same functions with node:crypto as the default.
 */
export function bindApi(defaultBackend: CryptoBackend) {
  const pick = (options: VerifyOptions | undefined): CryptoBackend => options?.backend ?? defaultBackend;

  function verifyChain(
    receipts: Iterable<unknown>,
    keys: KeySource,
    options?: ChainVerifyOptions,
  ): ChainVerification;
  function verifyChain(
    receipts: AsyncIterable<unknown>,
    keys: KeySource,
    options?: ChainVerifyOptions,
  ): Promise<ChainVerification>;
  function verifyChain(
    receipts: Iterable<unknown> | AsyncIterable<unknown>,
    keys: KeySource,
    options?: ChainVerifyOptions,
  ): ChainVerification | Promise<ChainVerification>;
  function verifyChain(
    receipts: Iterable<unknown> | AsyncIterable<unknown>,
    keys: KeySource,
    options: ChainVerifyOptions = {},
  ): ChainVerification | Promise<ChainVerification> {
    return verifyChainWith(pick(options), receipts, keys, options);
  }

  return {
    /** Verifies one receipt (parsed object or JSON text) offline with public keys only. */
    verifyReceipt(receipt: unknown, keys: KeySource, options?: VerifyOptions): ReceiptVerification {
      return verifyReceiptWith(pick(options), receipt, keys);
    },
    /** Verifies a signed checkpoint (parsed object or JSON text). */
    verifyCheckpoint(checkpoint: unknown, keys: KeySource, options?: VerifyOptions): CheckpointVerification {
      return verifyCheckpointWith(pick(options), checkpoint, keys);
    },
    /**
     * Verifies a whole chain: receipts (parsed objects or JSONL lines) in file order. Sync for
     * an Iterable (e.g. an array), a Promise for an AsyncIterable (e.g. a readline interface).
     */
    verifyChain,
    /** An incremental chain verifier: `add(item, line?)` each receipt, then `finish()`. */
    createChainVerifier(keys: KeySource, options: ChainVerifyOptions = {}): ChainVerifier {
      return new ChainVerifier(keys, pick(options), options);
    },
    /** Hex SHA-256 of RECEIPT_HASH_PREFIX + canonical JSON of the signed receipt; the next `prev`. */
    receiptHash(receipt: SignedReceipt): string {
      return computeReceiptHash(defaultBackend.sha256, receipt);
    },
    /** `prev` of seq 1: hex SHA-256 of RECEIPT_GENESIS_PREFIX + chain id. */
    genesisHash(chainId: string): string {
      return computeGenesisHash(defaultBackend.sha256, chainId);
    },
    /** Pure: the body following `head` (or seq 1 when null), ready for `signer.sign`. */
    nextReceipt(head: ChainHead | null, chainId: string, fields: ReceiptFields): UnsignedReceipt {
      return buildNextReceipt(defaultBackend.sha256, head, chainId, fields);
    },
  };
}
