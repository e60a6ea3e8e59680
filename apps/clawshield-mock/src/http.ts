import { randomBytes, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { describeIssues, MockError, type MockErrorCode } from './errors.js';
import { jwksOf } from './keys.js';
import { APPROVAL_FORMATS, ApprovalSpecSchema, type Approver, mintApproval } from './mint.js';
import { PAGE_CSP, renderPage } from './page.js';
import type { ApprovalQueue } from './queue.js';
import { isLoopbackHostHeader } from './safety.js';

export type HttpErrorCode =
  | 'invalid_request'
  | 'malformed_json'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'not_found'
  | 'request_not_pending'
  | 'queue_full'
  | 'host_not_allowed'
  | 'origin_not_allowed'
  | 'csrf_token_invalid'
  | 'internal_error';

/** The one table from error codes to HTTP statuses. */
export const HTTP_STATUS: Readonly<Record<HttpErrorCode, number>> = {
  invalid_request: 400,
  malformed_json: 400,
  payload_too_large: 413,
  unsupported_media_type: 415,
  not_found: 404,
  request_not_pending: 409,
  queue_full: 503,
  host_not_allowed: 403,
  origin_not_allowed: 403,
  csrf_token_invalid: 403,
  internal_error: 500,
};

const FROM_MOCK_ERROR: Readonly<Record<MockErrorCode, HttpErrorCode>> = {
  ERR_MOCK_INVALID_INPUT: 'invalid_request',
  ERR_MOCK_NOT_FOUND: 'not_found',
  ERR_MOCK_NOT_PENDING: 'request_not_pending',
  ERR_MOCK_QUEUE_FULL: 'queue_full',
  ERR_MOCK_USAGE: 'internal_error',
  ERR_MOCK_KEY: 'internal_error',
  ERR_MOCK_UNSAFE: 'internal_error',
};

export class HttpError extends Error {
  readonly status: number;
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HttpError';
    this.status = HTTP_STATUS[code];
  }
}

export const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024;

const Format = z.enum(APPROVAL_FORMATS as [string, ...string[]]).transform((v) => v as 'v1' | 'legacy');
const Ttl = ApprovalSpecSchema.shape.ttlSeconds.unwrap();

/** POST /approvals: mint directly, no queue. */
export const MintBodySchema = z.strictObject({
  action: ApprovalSpecSchema.shape.action,
  payload: ApprovalSpecSchema.shape.payload.unwrap().optional(),
  nonce: ApprovalSpecSchema.shape.nonce,
  max: ApprovalSpecSchema.shape.max,
  sub: ApprovalSpecSchema.shape.sub,
  ttl: Ttl.optional(),
  format: Format.optional(),
});

/** POST /requests: what an agent asks for. */
export const RequestBodySchema = z.strictObject({
  action: ApprovalSpecSchema.shape.action,
  payload: ApprovalSpecSchema.shape.payload.unwrap().optional(),
  nonce: ApprovalSpecSchema.shape.nonce,
  reason: z.string().max(1000, 'must be at most 1000 characters').optional(),
});

/** POST /requests/:id/approve as JSON (all optional; an empty body approves with v1 defaults). */
export const ApproveBodySchema = z.strictObject({
  format: Format.optional(),
  ttl: Ttl.optional(),
  max: ApprovalSpecSchema.shape.max,
});

/** The page's forms post `csrf` (and `format` for the legacy button). */
const FormSchema = z.strictObject({ csrf: z.string().max(200), format: Format.optional() });

const ListQuerySchema = z.strictObject({ status: z.enum(['pending', 'approved', 'denied']).optional() });

function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new HttpError('invalid_request', describeIssues(parsed.error), { cause: parsed.error });
  return parsed.data;
}

export interface MockAppOptions {
  approver: Approver;
  queue: ApprovalQueue;
  /** Token the page's forms must echo back (CSRF). Default: random per app. */
  csrfToken?: string;
  bodyLimitBytes?: number;
}

type BodyKind = 'json' | 'form' | 'empty';

/**
 * The HTTP adapter: routes parse and validate, then call the plain functions of mint.ts and
 * queue.ts. No approval logic lives here.
 */
export function createMockApp(options: MockAppOptions): express.Express {
  const { approver, queue } = options;
  const csrf = options.csrfToken ?? randomBytes(24).toString('base64url');
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.set({
      'X-Content-Type-Options': 'nosniff',
      // Not no-referrer: under it Chromium sends `Origin: null` with the page's own form posts.
      'Referrer-Policy': 'same-origin',
      // Artifacts are bearer credentials for the API: never cache them.
      'Cache-Control': 'no-store',
    });
    if (!isLoopbackHostHeader(req.headers.host)) {
      next(new HttpError('host_not_allowed', 'the Host header must name a loopback address'));
      return;
    }
    // Cross-site POSTs (a page the developer happens to visit) are refused before any parsing.
    const origin = req.headers.origin;
    if (
      req.method === 'POST' &&
      origin !== undefined &&
      origin.toLowerCase() !== `http://${req.headers.host}`.toLowerCase()
    ) {
      next(new HttpError('origin_not_allowed', 'cross-origin requests are not allowed'));
      return;
    }
    next();
  });

  const json = express.json({ limit, strict: true, type: 'application/json' });
  const form = express.urlencoded({ limit: 4096, extended: false, parameterLimit: 10 });

  /**
   * Which body the request has: none (read as `{}`), JSON, or where allowed the page's form;
   * anything else is 415.
   */
  const body =
    (accept: readonly BodyKind[]) =>
    (req: Request, res: Response, next: NextFunction): void => {
      const hasBody =
        req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
      // A form post is a form post even when empty: it must carry the page's CSRF token, and
      // an empty one must not pass as the JSON API's "approve with defaults".
      const isForm = /^application\/x-www-form-urlencoded\s*(;|$)/i.test(req.headers['content-type'] ?? '');
      const kind: BodyKind | null = isForm
        ? 'form'
        : !hasBody
          ? 'empty'
          : req.is('application/json')
            ? 'json'
            : req.is('application/x-www-form-urlencoded')
              ? 'form'
              : null;
      if (kind === null || !accept.includes(kind)) {
        next(new HttpError('unsupported_media_type', 'send application/json'));
        return;
      }
      res.locals.bodyKind = kind;
      if (kind === 'json') json(req, res, next);
      else if (kind === 'form') form(req, res, next);
      else next();
    };

  app.get('/', (_req, res) => {
    res
      .set('Content-Security-Policy', PAGE_CSP)
      .type('html')
      .send(
        renderPage({
          tenant: approver.tenant,
          issuer: approver.issuer,
          kid: approver.key.kid,
          csrf,
          requests: queue.list(),
        }),
      );
  });

  // Browsers ask for it; a 404 would be noise in the console.
  app.get('/favicon.ico', (_req, res) => {
    res.status(204).end();
  });

  app.get('/keys', (_req, res) => {
    res.json(jwksOf(approver.key));
  });

  app.post('/approvals', body(['json', 'empty']), (req, res) => {
    const b = parse(MintBodySchema, res.locals.bodyKind === 'empty' ? {} : req.body);
    const minted = mintApproval(approver, b.format ?? 'v1', {
      action: b.action,
      ...(b.payload === undefined ? {} : { payload: b.payload }),
      ...(b.nonce === undefined ? {} : { nonce: b.nonce }),
      ...(b.max === undefined ? {} : { max: b.max }),
      ...(b.sub === undefined ? {} : { sub: b.sub }),
      ...(b.ttl === undefined ? {} : { ttlSeconds: b.ttl }),
    });
    res.status(201).json({ artifact: minted.artifact, format: minted.format, claims: minted.claims });
  });

  app.post('/requests', body(['json', 'empty']), (req, res) => {
    const b = parse(RequestBodySchema, res.locals.bodyKind === 'empty' ? {} : req.body);
    const record = queue.submit({
      action: b.action,
      ...(b.payload === undefined ? {} : { payload: b.payload }),
      ...(b.nonce === undefined ? {} : { nonce: b.nonce }),
      ...(b.reason === undefined ? {} : { reason: b.reason }),
    });
    res.status(201).location(`/requests/${record.id}`).json({ id: record.id, status: record.status });
  });

  app.get('/requests', (req, res) => {
    const query = parse(ListQuerySchema, req.query);
    res.json({ requests: queue.list(query.status === undefined ? {} : { status: query.status }) });
  });

  app.get('/requests/:id', (req, res) => {
    res.json(queue.get(String(req.params.id)));
  });

  /** Form posts come from the page: check the CSRF token, then go back to the page. */
  const checkForm = (req: Request): z.output<typeof FormSchema> => {
    const f = parse(FormSchema, req.body);
    const given = Buffer.from(f.csrf);
    const expected = Buffer.from(csrf);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new HttpError('csrf_token_invalid', 'reload the page and try again');
    }
    return f;
  };

  app.post('/requests/:id/approve', body(['json', 'form', 'empty']), (req, res) => {
    const id = String(req.params.id);
    if (res.locals.bodyKind === 'form') {
      const f = checkForm(req);
      queue.approve(id, f.format === undefined ? {} : { format: f.format });
      res.redirect(303, '/');
      return;
    }
    const b = parse(ApproveBodySchema, res.locals.bodyKind === 'empty' ? {} : req.body);
    res.json(
      queue.approve(id, {
        ...(b.format === undefined ? {} : { format: b.format }),
        ...(b.ttl === undefined ? {} : { ttlSeconds: b.ttl }),
        ...(b.max === undefined ? {} : { max: b.max }),
      }),
    );
  });

  app.post('/requests/:id/deny', body(['json', 'form', 'empty']), (req, res) => {
    const id = String(req.params.id);
    if (res.locals.bodyKind === 'form') {
      checkForm(req);
      queue.deny(id);
      res.redirect(303, '/');
      return;
    }
    parse(z.strictObject({}), res.locals.bodyKind === 'empty' ? {} : req.body);
    res.json(queue.deny(id));
  });

  app.use((_req: Request, _res: Response, next: NextFunction) => {
    next(new HttpError('not_found', 'no such route'));
  });

  // One error middleware: known errors keep their code, anything else is a 500 without internals.
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = toHttpError(error);
    res.status(e.status).json({ detail: e.message, code: e.code });
  });
  return app;
}

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof MockError) {
    const code = FROM_MOCK_ERROR[error.code];
    return new HttpError(code, code === 'internal_error' ? 'internal error' : error.message);
  }
  // body-parser errors carry a `type`.
  const type = (error as { type?: unknown } | null)?.type;
  if (type === 'entity.too.large') return new HttpError('payload_too_large', 'request body too large');
  if (type === 'entity.parse.failed')
    return new HttpError('malformed_json', 'request body is not valid JSON');
  if ((typeof type === 'string' && type.startsWith('encoding.')) || type === 'charset.unsupported') {
    return new HttpError('unsupported_media_type', 'unsupported body encoding');
  }
  if (type === 'parameters.too.many') return new HttpError('invalid_request', 'too many form fields');
  return new HttpError('internal_error', 'internal error');
}
