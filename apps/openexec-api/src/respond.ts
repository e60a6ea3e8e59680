import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ApiError } from './errors.js';
import type { RequestLog } from './observability.js';

/** Sent with every response. */
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
};

export function setSecurityHeaders(res: ServerResponse): void {
  for (const name in SECURITY_HEADERS) res.setHeader(name, SECURITY_HEADERS[name] as string);
}

/** A JSON text as the whole response (Node adds its Content-Length). */
export function sendJson(
  res: ServerResponse,
  status: number,
  json: string,
  headers: Readonly<Record<string, string>> = {},
): void {
  res.statusCode = status;
  for (const name in headers) res.setHeader(name, headers[name] as string);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.end(json);
}

/**
 * Answers an error: an `ApiError` with its status, headers and `{detail, code, ...}`; anything
 * else with a 500 that reveals nothing (the log gets its name).
 */
export function sendError(res: ServerResponse, error: unknown, logger: Logger, log?: RequestLog): void {
  if (res.headersSent) {
    // Part of the answer is out (a streamed export): all that is left is to cut it short.
    res.destroy();
    return;
  }
  if (error instanceof ApiError) {
    if (log) log.fields.code = String(error.code);
    sendJson(res, error.status, JSON.stringify(error.toBody()), error.headers);
    return;
  }
  logger.error({ req_id: log?.requestId, err: { name: (error as Error)?.name } }, 'unhandled error');
  sendJson(res, 500, JSON.stringify({ detail: 'Internal Server Error', code: 'internal_error' }));
}
