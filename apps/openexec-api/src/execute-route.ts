import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AppContext } from './app.js';
import type { ApiKey } from './auth.js';
import { jsonBody } from './body.js';
import { ApiError } from './errors.js';
import { beginRequestLog, hashForLog, type RequestLog } from './observability.js';
import { sendError, sendJson, setSecurityHeaders } from './respond.js';

/** What Express's router matches for `app.post('/execute')`: any case, an optional trailing slash, any query. */
const EXECUTE_PATH = /^\/execute\/?(?:\?|$)/i;

export function isExecuteRequest(req: IncomingMessage): boolean {
  return req.method === 'POST' && isExecuteTarget(req);
}

/** Whether the request is for /execute, whatever its method. */
export function isExecuteTarget(req: IncomingMessage): boolean {
  const target = req.url ?? '';
  // Origin-form (`/execute?…`) is what clients send; absolute-form (`http://host/execute`) is
  // legal too, and Express routes it by its path.
  return EXECUTE_PATH.test(target.startsWith('/') ? target : pathOf(target));
}

function pathOf(target: string): string {
  try {
    return new URL(target).pathname;
  } catch {
    return '';
  }
}

type RouteContext = Pick<
  AppContext,
  'config' | 'registry' | 'service' | 'logger' | 'metrics' | 'isShuttingDown'
>;

/**
 * POST /execute on `node:http` itself, outside Express. It is the one route under load, and
 * Express's share of it (router layers, request and response decoration, `res.send`) was about
 * a third of the request thread's CPU per execution (docs/performance.md). Everything else is the
 * code Express's routes use too: the request log, the security headers, the body parser, the
 * caller checks (`admit`: rate limits and API keys), the error answers.
 */
export function executeRoute(
  ctx: RouteContext,
  admit: (req: IncomingMessage) => ApiKey | null,
): (req: IncomingMessage, res: ServerResponse) => void {
  const parseBody = jsonBody(ctx.config.bodyLimitBytes);
  return (req, res) => {
    const log = beginRequestLog(ctx.logger, ctx.metrics, req, res, () => '/execute');
    setSecurityHeaders(res);
    const fail = (error: unknown) => sendError(res, error, ctx.logger, log);
    let caller: ApiKey | null;
    try {
      caller = admit(req);
    } catch (error) {
      fail(error);
      return;
    }
    parseBody(req, res, (error) => {
      if (error !== undefined) fail(error);
      else execute(ctx, req, res, caller, log).catch(fail);
    });
  };
}

async function execute(
  ctx: RouteContext,
  req: IncomingMessage & { body?: unknown },
  res: ServerResponse,
  caller: ApiKey | null,
  log: RequestLog,
): Promise<void> {
  if (ctx.isShuttingDown())
    throw new ApiError(503, 'shutting_down', 'the service is shutting down', {
      headers: { Connection: 'close' },
    });
  const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
  // Node joins repeated unknown headers with ", ": two keys would silently become one nonce.
  if (idempotencyKey !== undefined && countHeader(req.rawHeaders, 'idempotency-key') > 1) {
    throw new ApiError(400, 'invalid_request', 'Idempotency-Key: sent more than once');
  }
  const body = req.body as { action?: unknown; nonce?: unknown };
  // Only names the registry knows reach the log; the nonce only as a hash.
  if (typeof body?.action === 'string' && ctx.registry.has(body.action)) log.fields.action = body.action;
  const nonce = idempotencyKey ?? body?.nonce;
  if (typeof nonce === 'string') log.fields.nonce_hash = hashForLog(nonce);
  const output = await ctx.service.execute({ body: req.body, idempotencyKey, caller });
  log.fields.outcome = output.outcome;
  log.fields.replayed = output.replayed;
  // Stored responses and receipts are spliced into this text, never parsed and re-encoded.
  sendJson(res, output.status, output.json, output.headers);
}

/** How often a header appears (rawHeaders alternates names and values). */
function countHeader(rawHeaders: readonly string[], name: string): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]?.toLowerCase() === name) count++;
  }
  return count;
}
