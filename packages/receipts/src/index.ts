// Node entry: everything in portable.ts, with node:crypto as the default backend, plus signing.
// Browser/edge bundlers resolve the package to portable.js instead (export conditions in
// package.json); both entries export the same verification API.

import { bindApi } from './api.js';
import { nodeCryptoBackend } from './backend-node.js';

export type { CryptoBackend } from './backend.js';
export { tweetnaclBackend } from './backend.js';
export { nodeCryptoBackend } from './backend-node.js';
export { canonicalJson } from './canonical-json.js';
export { checkpointSigningMessage, receiptSigningMessage } from './chain.js';
export type { Problem, ReceiptErrorCode, ReceiptProblemCode } from './errors.js';
export { formatProblem, ReceiptError } from './errors.js';
export type {
  ChainHead,
  CheckpointBody,
  CheckpointInput,
  ReceiptApproval,
  ReceiptBody,
  ReceiptFields,
  ReceiptMode,
  ReceiptOutcome,
  ReceiptRun,
  SignedCheckpoint,
  SignedReceipt,
  UnsignedReceipt,
} from './format.js';
export {
  CHECKPOINT_SIGNING_PREFIX,
  CHECKPOINT_VERSION,
  parseCheckpoint,
  parseReceipt,
  parseReceiptBody,
  RECEIPT_GENESIS_PREFIX,
  RECEIPT_HASH_PREFIX,
  RECEIPT_MODES,
  RECEIPT_OUTCOMES,
  RECEIPT_SIGNING_PREFIX,
  RECEIPT_VERSION,
} from './format.js';
export type { Jwk, Jwks, KeyLookup, KeySource, PublicJwk } from './keys.js';
export { jwkThumbprint } from './keys.js';
export type { ChainSealer, GeneratedSigningKey, ReceiptSigner, SealedChainReceipt } from './signer.js';
export { createChainSealer, createReceiptSigner, generateSigningKey } from './signer.js';
export type {
  ChainVerification,
  ChainVerifier,
  ChainVerifyOptions,
  CheckpointVerification,
  ReceiptVerification,
  VerifyOptions,
} from './verify.js';

const api = bindApi(nodeCryptoBackend);
export const verifyReceipt = api.verifyReceipt;
export const verifyCheckpoint = api.verifyCheckpoint;
export const verifyChain = api.verifyChain;
export const createChainVerifier = api.createChainVerifier;
export const receiptHash = api.receiptHash;
export const genesisHash = api.genesisHash;
export const nextReceipt = api.nextReceipt;
