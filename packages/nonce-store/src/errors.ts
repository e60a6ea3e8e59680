export type StoreErrorCode =
  | 'ERR_STORE_URL_INVALID'
  | 'ERR_STORE_UNAVAILABLE'
  | 'ERR_STORE_MIGRATION_FAILED'
  | 'ERR_STORE_MIGRATION_MODIFIED'
  | 'ERR_STORE_CLOSED';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.code = code;
  }
}
