export type { StoreErrorCode } from './errors.js';
export { StoreError } from './errors.js';
export type { CompleteResult, ExecutionStore, ExecutionStoreOptions } from './store.js';
export { openExecutionStore } from './store.js';
export type {
  ApprovalUse,
  ChainHead,
  CompleteRequest,
  ExecutionRecord,
  ExecutionState,
  ReceiptDraft,
  ReceiptSealer,
  ReceiptSealerModule,
  ReserveRequest,
  ReserveResult,
  ResolveRequest,
  SealedReceipt,
  SigningKeyRecord,
} from './types.js';
export type { DatabaseLocation } from './url.js';
export { parseDatabaseUrl } from './url.js';
