/** Every error body is `{detail, code}`: `detail` for people (and Python clients), `code` for programs. */
export type ApiErrorCode =
  | 'malformed_json'
  | 'unsupported_media_type'
  | 'payload_too_large'
  | 'forbidden_key'
  | 'too_deep'
  | 'invalid_request'
  | 'unknown_action'
  | 'action_not_allowed'
  | 'invalid_payload'
  | 'nonce_mismatch'
  | 'approval_missing'
  | 'approval_malformed'
  | 'approval_invalid'
  | 'approval_already_used'
  | 'execution_in_progress'
  | 'execution_indeterminate'
  | 'nonce_conflict'
  | 'not_found'
  | 'method_not_allowed'
  | 'tenant_key_not_allowed'
  | 'store_unavailable'
  | 'shutting_down'
  | 'internal_error'
  // Answered by the HTTP server before any route (server.ts, answerClientError).
  | 'malformed_http'
  | 'headers_too_large'
  | 'request_timeout';

export class ApiError extends Error {
  readonly status: number;
  readonly code: ApiErrorCode | string;
  readonly headers: Record<string, string>;
  /** Extra fields of the body (e.g. `approval_code`). */
  readonly extra: Record<string, unknown>;

  constructor(
    status: number,
    code: ApiErrorCode | string,
    detail: string,
    options: { headers?: Record<string, string>; extra?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(detail, { cause: options.cause });
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.headers = options.headers ?? {};
    this.extra = options.extra ?? {};
  }

  toBody(): Record<string, unknown> {
    return { detail: this.message, code: this.code, ...this.extra };
  }
}
