import { hash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import pino, { type Logger } from 'pino';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** What the execution path reports; kept free of any metrics library. */
export interface ExecutionObserver {
  reserved(seconds: number): void;
  completed(seconds: number): void;
  outcome(action: string, outcome: string): void;
  approvalRejected(code: string): void;
  replay(kind: 'served' | 'in_progress' | 'conflict' | 'indeterminate' | 'purged'): void;
  storeError(): void;
  /** A handler finished after an operator had resolved its execution (see docs/exactly-once.md). */
  outcomeAfterResolution(outcome: string): void;
  /**
   * A handler still running after its outcome (timeout, abort) was stored: +1 then, -1 when it
   * stops. It holds its action's concurrency slot until then.
   */
  handlerOverrunning(action: string, change: 1 | -1): void;
}

export const noopObserver: ExecutionObserver = {
  reserved() {},
  completed() {},
  outcome() {},
  approvalRejected() {},
  replay() {},
  storeError() {},
  outcomeAfterResolution() {},
  handlerOverrunning() {},
};

export interface Metrics {
  registry: Registry;
  observer: ExecutionObserver;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  chainHead: Gauge<'chain'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'openexec_' });
  const httpRequests = new Counter({
    name: 'openexec_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const executions = new Counter({
    name: 'openexec_executions_total',
    help: 'Handler runs by action and outcome',
    labelNames: ['action', 'outcome'],
    registers: [registry],
  });
  const rejections = new Counter({
    name: 'openexec_approval_rejections_total',
    help: 'Refused approvals by code',
    labelNames: ['code'],
    registers: [registry],
  });
  const replays = new Counter({
    name: 'openexec_replays_total',
    help: 'Requests for an already used nonce, by answer',
    labelNames: ['kind'],
    registers: [registry],
  });
  const storeErrors = new Counter({
    name: 'openexec_store_errors_total',
    help: 'Database operations that failed',
    registers: [registry],
  });
  const afterResolution = new Counter({
    name: 'openexec_outcomes_after_resolution_total',
    help: 'Handlers that finished after an operator had resolved their execution, by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const overrunning = new Gauge({
    name: 'openexec_handlers_overrunning',
    help: 'Handlers still running after their timeout or abort (each holds a concurrency slot), by action',
    labelNames: ['action'],
    registers: [registry],
  });
  const buckets = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
  const reserve = new Histogram({
    name: 'openexec_reserve_seconds',
    help: 'Durable reservation latency (group commit included)',
    buckets,
    registers: [registry],
  });
  const complete = new Histogram({
    name: 'openexec_complete_seconds',
    help: 'Durable completion latency (group commit included)',
    buckets,
    registers: [registry],
  });
  const chainHead = new Gauge({
    name: 'openexec_receipt_chain_head',
    help: 'Sequence number of the newest receipt of this process',
    labelNames: ['chain'],
    registers: [registry],
  });
  return {
    registry,
    httpRequests,
    chainHead,
    observer: {
      reserved: (seconds) => reserve.observe(seconds),
      completed: (seconds) => complete.observe(seconds),
      outcome: (action, outcome) => executions.inc({ action, outcome }),
      approvalRejected: (code) => rejections.inc({ code }),
      replay: (kind) => replays.inc({ kind }),
      storeError: () => storeErrors.inc(),
      outcomeAfterResolution: (outcome) => afterResolution.inc({ outcome }),
      handlerOverrunning: (action, change) => overrunning.inc({ action }, change),
    },
  };
}

/**
 * JSON lines, by default to stdout with synchronous writes (pino's default): a line is in the
 * kernel's hands before the next request is served, so a crash loses none, and a stalled log
 * reader holds the service back instead of filling its memory. It also measured 2% less CPU
 * per execution than the asynchronous destination (docs/performance.md).
 */
export function createLogger(destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      base: { service: 'openexec-api' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ sync: true }),
  );
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Fields a route may add to its request's log line (never payloads, results, keys or tokens). */
export interface RequestLogFields {
  action?: string;
  outcome?: string;
  code?: string;
  /** SHA-256 of the nonce, so lines can be correlated without exposing it. */
  nonce_hash?: string;
  replayed?: boolean;
}

export function hashForLog(value: string): string {
  return hash('sha256', value, 'hex').slice(0, 16);
}

export interface RequestLog {
  requestId: string;
  /** What the route adds to the line. */
  fields: RequestLogFields;
}

/**
 * One JSON line per request, written when the response has been sent: request id (accepted
 * from X-Request-Id when well-formed, else generated, and returned), method, route, status,
 * duration, and what the route added to `fields`. Counts the request in the metrics too.
 */
export function beginRequestLog(
  logger: Logger,
  metrics: Metrics,
  req: IncomingMessage,
  res: ServerResponse,
  routeOf: () => string,
): RequestLog {
  const started = process.hrtime.bigint();
  const given = req.headers['x-request-id'];
  const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  const fields: RequestLogFields = {};
  res.setHeader('X-Request-Id', requestId);
  res.on('finish', () => {
    const route = routeOf();
    const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    metrics.httpRequests.inc({ method: req.method ?? '', route, status: String(res.statusCode) });
    logger.info(
      {
        req_id: requestId,
        method: req.method,
        route,
        status: res.statusCode,
        duration_ms: Math.round(durationMs * 1000) / 1000,
        ...fields,
      },
      'request',
    );
  });
  return { requestId, fields };
}

/** `beginRequestLog` as Express middleware: the line names the matched route's path. */
export function requestLogging(logger: Logger, metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    res.locals.log = beginRequestLog(
      logger,
      metrics,
      req,
      res,
      // Never the raw path: each distinct one would be a new metrics series and anyone, before
      // authentication, could grow them (and the process's memory) without bound.
      () => (req.route?.path as string | undefined) ?? 'unmatched',
    );
    next();
  };
}
