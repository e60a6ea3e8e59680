import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, RequestListener } from 'node:http';
import type { HandlerRegistry } from '@openexec/handler-registry';
import { type ExecutionStore, StoreError } from '@openexec/nonce-store';
import { type SignedCheckpoint, verifyReceipt } from '@openexec/receipts';
import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'pino';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { type ApiKey, authenticate } from './auth.js';
import { jsonBody } from './body.js';
import type { Config } from './config.js';
import { ApiError } from './errors.js';
import { executeRoute, isExecuteRequest, isExecuteTarget } from './execute-route.js';
import { pythonResultJson, verifyLegacyReceipt } from './legacy-receipt.js';
import { checkRate, RateLimiter } from './limits.js';
import { type Metrics, type RequestLog, requestLogging } from './observability.js';
import { buildOpenApi } from './openapi.js';
import { toJwks } from './receipts.js';
import { sendError, setSecurityHeaders } from './respond.js';
import { describeIssues, LegacyReceiptVerifySchema, ReceiptExportQuerySchema } from './schemas.js';
import type { ExecutionService } from './service.js';
import { pythonUtcNow, VERSION } from './version.js';

export interface AppContext {
  config: Config;
  registry: HandlerRegistry;
  store: ExecutionStore;
  service: ExecutionService;
  /** Number of approval keys loaded (clawshield mode), for /health and /ready. */
  approvalKeyCount: number;
  receipts: {
    /** This process's chain id (its instance id). */
    chain: string;
    kid: string;
    checkpoint: () => Promise<SignedCheckpoint | null>;
  };
  logger: Logger;
  metrics: Metrics;
  /** When set, /execute and the receipt export require one of these keys. */
  apiKeys: readonly ApiKey[] | null;
  /** Set while the server drains on SIGTERM: new work is refused. */
  isShuttingDown: () => boolean;
}

/** The service's request listener, and what it serves. */
export interface App extends RequestListener {
  /** Every route, as `METHOD /path/{param}`. */
  routes(): string[];
}

/** POST /execute on its own route (`executeRoute`), everything else through Express. */
export function createApp(ctx: AppContext): App {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  const perIp = ctx.config.rateLimitPerIp > 0 ? new RateLimiter(ctx.config.rateLimitPerIp) : null;
  const perKey =
    ctx.apiKeys && ctx.config.rateLimitPerKey > 0 ? new RateLimiter(ctx.config.rateLimitPerKey) : null;
  // Behind a reverse proxy, rate limits must key on the client address it reports (the last
  // X-Forwarded-For hop, as Express's `trust proxy` of 1 reads it).
  const trust = ctx.config.trustProxy ? (_address: string, hop: number) => hop < 1 : () => false;
  const limitPerIp = (req: IncomingMessage) => {
    if (perIp) checkRate(perIp, proxyaddr(req, trust));
  };
  const authenticateCaller = (req: IncomingMessage) =>
    ctx.apiKeys ? authenticate(ctx.apiKeys, req.headers.authorization) : null;
  // Each is a list: a switched-off control adds no layer to the routes (a router layer per
  // request is not free).
  const limitPerIpLayer: RequestHandler[] = perIp ? [asLayer(limitPerIp)] : [];

  const execute = executeRoute(ctx, (req) => {
    limitPerIp(req);
    const caller = authenticateCaller(req);
    if (perKey && caller) checkRate(perKey, caller.id);
    return caller;
  });

  app.use(requestLogging(ctx.logger, ctx.metrics));
  app.use((_req, res, next) => {
    setSecurityHeaders(res);
    next();
  });

  app.get('/', (_req, res) => {
    res.json({ service: 'OpenExec', status: 'running', version: VERSION });
  });

  app.get('/health', (_req, res) => {
    const { config, registry } = ctx;
    const body: Record<string, unknown> = {
      status: 'ok',
      exec_mode: config.mode,
      signature_verification: config.mode === 'clawshield' ? 'enabled' : 'disabled',
      restriction: registry.allowed ? 'restricted' : 'open',
    };
    if (registry.allowed) body.allow_list = registry.allowed;
    else body.warning = 'No execution allow-list configured';
    if (config.mode === 'clawshield') body.approval_keys = ctx.approvalKeyCount;
    if (config.mode === 'demo' && config.allowInsecureDemo) {
      body.insecure_demo = 'demo mode may be reachable from other hosts (OPENEXEC_ALLOW_INSECURE_DEMO)';
    }
    res.json(body);
  });

  app.get('/ready', async (_req, res) => {
    if (ctx.isShuttingDown()) {
      res.status(503).json({ ready: false, detail: 'shutting down', code: 'shutting_down' });
      return;
    }
    const reasons: string[] = [];
    const db = await ctx.store.ping();
    if (!db.ok) {
      // The driver's error text stays in the log: this probe answers anyone.
      ctx.logger.warn({ reason: db.reason }, 'readiness: database not ready');
      reasons.push(db.reason.startsWith('database unreachable') ? 'database unreachable' : db.reason);
    }
    if (ctx.config.mode === 'clawshield' && ctx.approvalKeyCount === 0)
      reasons.push('no approval keys loaded');
    if (reasons.length > 0) {
      res.status(503).json({ ready: false, detail: reasons.join('; '), code: 'not_ready' });
      return;
    }
    res.json({ ready: true });
  });

  app.get('/version', (_req, res) => {
    res.json({ version: VERSION, timestamp: pythonUtcNow() });
  });

  const openApi = buildOpenApi();
  app.get('/openapi.json', (_req, res) => {
    res.json(openApi);
  });

  app.get('/actions', (_req, res) => {
    res.json({ actions: ctx.registry.describe() });
  });

  app.post(
    '/receipts/verify',
    ...limitPerIpLayer,
    jsonBody(ctx.config.bodyLimitBytes),
    async (req: Request, res: Response) => {
      const body = req.body as Record<string, unknown>;
      // A signed (v1) receipt object: verified against every receipt key this service published.
      if (
        body &&
        typeof body === 'object' &&
        !Array.isArray(body) &&
        typeof body.receipt === 'object' &&
        body.receipt !== null
      ) {
        if (Object.keys(body).some((key) => key !== 'receipt'))
          throw new ApiError(400, 'invalid_request', 'send {"receipt": {...}} alone');
        const result = verifyReceipt(body.receipt, toJwks(await ctx.store.signingKeys()));
        const problem = result.problems[0];
        res.json(
          problem
            ? { valid: false, reason: `${problem.code}: ${problem.message}` }
            : { valid: true, reason: null },
        );
        return;
      }
      const parsed = LegacyReceiptVerifySchema.safeParse(body);
      if (!parsed.success) throw new ApiError(400, 'invalid_request', describeIssues(parsed.error));
      const { exec_id, result, receipt } = parsed.data;
      // Python clients send the result as the json.dumps string; accept the object too.
      let resultJson: string;
      try {
        resultJson = typeof result === 'string' ? result : pythonResultJson(result);
      } catch (error) {
        throw new ApiError(400, 'invalid_request', 'result is not JSON-serialisable', { cause: error });
      }
      res.json({ valid: verifyLegacyReceipt(exec_id, resultJson, receipt) });
    },
  );

  app.get('/receipts/:id', async (req: Request, res: Response) => {
    const caller = authenticateCaller(req);
    const id = z.string().min(1).max(200).safeParse(req.params.id);
    if (!id.success) throw new ApiError(400, 'invalid_request', 'bad execution id');
    const [receipt] = await ctx.store.receiptsOfExecution(id.data);
    // A key limited to a tenant reads that tenant's receipts only; another's is not found
    // (saying "forbidden" would confirm the execution exists).
    if (!receipt || (caller?.tenant && receiptTenant(receipt) !== caller.tenant)) {
      throw new ApiError(404, 'not_found', `no receipt for execution ${id.data}`);
    }
    res.type('application/json').send(receipt);
  });

  // JSON Lines export of a chain, streamed page by page (never built in memory).
  app.get('/receipts', async (req: Request, res: Response) => {
    const caller = authenticateCaller(req);
    // A chain interleaves every tenant's receipts, and a filtered one would not verify.
    if (caller?.tenant) {
      throw new ApiError(
        403,
        'tenant_key_not_allowed',
        "the chain export holds every tenant's receipts: it needs a key not limited to a tenant",
      );
    }
    const query = ReceiptExportQuerySchema.safeParse(req.query);
    if (!query.success) throw new ApiError(400, 'invalid_request', describeIssues(query.error));
    const chain = query.data.chain ?? ctx.receipts.chain;
    const to = query.data.to ?? Number.MAX_SAFE_INTEGER;
    let from = query.data.from;
    res.status(200).type('application/x-ndjson');
    const PAGE = 1_000;
    for (;;) {
      const page = await ctx.store.receiptPage(chain, from, to, PAGE);
      for (const row of page) {
        if (!res.write(`${row.body}\n`)) await once(res, 'drain');
      }
      const last = page.at(-1);
      if (page.length < PAGE || !last) break;
      from = last.seq + 1;
    }
    res.end();
  });

  app.get('/checkpoints/latest', async (_req: Request, res: Response) => {
    const checkpoint = await ctx.receipts.checkpoint();
    if (!checkpoint) throw new ApiError(404, 'not_found', 'no receipt has been issued yet');
    res.json(checkpoint);
  });

  app.get('/metrics', async (req: Request, res: Response) => {
    if (ctx.config.metricsTokenSha256) {
      const token = /^Bearer (.+)$/.exec(req.get('Authorization') ?? '')?.[1];
      const expected = Buffer.from(ctx.config.metricsTokenSha256, 'hex');
      const given = createHash('sha256')
        .update(token ?? '')
        .digest();
      if (!token || !timingSafeEqual(expected, given))
        throw new ApiError(401, 'unauthenticated', 'metrics need their bearer token', {
          headers: { 'WWW-Authenticate': 'Bearer' },
        });
    }
    const head = ctx.store.chainHead();
    if (head) ctx.metrics.chainHead.set({ chain: ctx.receipts.chain }, head.seq);
    res.type(ctx.metrics.registry.contentType).send(await ctx.metrics.registry.metrics());
  });

  app.get('/.well-known/openexec-keys.json', async (_req: Request, res: Response) => {
    res.json(toJwks(await ctx.store.signingKeys()));
  });

  app.use((req, _res, next) => {
    // POST /execute never reaches Express: any other method on it is the wrong one.
    if (isExecuteTarget(req)) {
      next(
        new ApiError(405, 'method_not_allowed', `${req.method} is not allowed on /execute; use POST`, {
          headers: { Allow: 'POST' },
        }),
      );
      return;
    }
    next(new ApiError(404, 'not_found', `Not Found: ${req.method} ${req.path}`));
  });

  const onError: ErrorRequestHandler = (error, _req, res, _next) => {
    // Express's router marks a path parameter that is not valid percent-encoding 400 (a
    // URIError); it is the client's mistake, not a 500.
    // A database that is down or locked is the service's condition, not a bug: 503 and a
    // retry, as on /execute, not 500.
    const answer =
      error instanceof URIError && (error as { status?: unknown }).status === 400
        ? new ApiError(400, 'invalid_request', 'the request path is not valid percent-encoding')
        : error instanceof StoreError
          ? new ApiError(503, 'store_unavailable', 'the database is unavailable; try again', {
              headers: { 'Retry-After': '1' },
              cause: error,
            })
          : error;
    sendError(res, answer, ctx.logger, res.locals.log as RequestLog | undefined);
  };
  app.use(onError);
  const listener: RequestListener = (req, res) => {
    if (isExecuteRequest(req)) execute(req, res);
    else if (hasRoutableTarget(req.url)) app(req, res);
    else {
      // Express can find no path in it and would answer with its own HTML page.
      setSecurityHeaders(res);
      sendError(
        res,
        new ApiError(400, 'invalid_request', 'the request target is not a valid URL'),
        ctx.logger,
      );
    }
  };
  return Object.assign(listener, {
    routes: () => [
      'POST /execute',
      ...(app.router.stack as Array<{ route?: { path: string; methods: Record<string, boolean> } }>).flatMap(
        ({ route }) =>
          route
            ? Object.keys(route.methods).map(
                (method) => `${method.toUpperCase()} ${route.path.replace(/:(\w+)/g, '{$1}')}`,
              )
            : [],
      ),
    ],
  });
}

/** The tenant a stored receipt names. */
function receiptTenant(body: string): unknown {
  try {
    return (JSON.parse(body) as { tenant?: unknown }).tenant;
  } catch {
    return undefined;
  }
}

/** A check that throws an `ApiError` as an Express layer. */
function asLayer(check: (req: IncomingMessage) => unknown): RequestHandler {
  return (req, _res, next) => {
    try {
      check(req);
    } catch (error) {
      next(error);
      return;
    }
    next();
  };
}

/** Origin-form (`/path`), or absolute-form that parses as a URL (`http://host/path`). */
function hasRoutableTarget(target: string | undefined): boolean {
  if (target === undefined) return false;
  if (target.startsWith('/')) return true;
  return URL.canParse(target);
}
