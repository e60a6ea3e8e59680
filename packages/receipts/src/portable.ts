// Portable entry: verification and chain helpers with tweetnacl + a JavaScript SHA-256.
// Imports nothing from node:*, so browser bundlers and edge runtimes can use it. Bundlers
// pick it automatically through the "browser"/"worker"/"edge-light" export conditions of
// the package (see README); Node gets index.ts, which adds signing and node:crypto.

import { bindApi } from './api.js';
import { tweetnaclBackend } from './backend.js';

export type { CryptoBackend } from './backend.js';
export { tweetnaclBackend } from './backend.js';
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
export type {
  ChainVerification,
  ChainVerifier,
  ChainVerifyOptions,
  CheckpointVerification,
  ReceiptVerification,
  VerifyOptions,
} from './verify.js';

const api = bindApi(tweetnaclBackend);
export const verifyReceipt = api.verifyReceipt;
export const verifyCheckpoint = api.verifyCheckpoint;
export const verifyChain = api.verifyChain;
export const createChainVerifier = api.createChainVerifier;
export const receiptHash = api.receiptHash;
export const genesisHash = api.genesisHash;
export const nextReceipt = api.nextReceipt;
