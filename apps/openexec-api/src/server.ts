import { readFileSync } from 'node:fs';
import { createServer, type Server, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type KeySet, parseKeySet, verifyApproval } from '@openexec/approval-verifier';
import {
  builtinHandlers,
  createRegistry,
  GovernedConfigError,
  type Handler,
  type HandlerRegistry,
  loadGovernedHandlers,
  readGovernedConfig,
} from '@openexec/handler-registry';
import { type ExecutionStore, openExecutionStore } from '@openexec/nonce-store';
import type { SignedCheckpoint } from '@openexec/receipts';
import type { Logger } from 'pino';
import { createApp } from './app.js';
import { loadApiKeys } from './auth.js';
import { type Config, ConfigError } from './config.js';
import { ConcurrencyLimiter } from './limits.js';
import { createLogger, createMetrics } from './observability.js';
import { loadReceiptSigner, receiptKeyPath, receiptSealerModule } from './receipts.js';
import { type ApprovalVerifier, ExecutionService } from './service.js';

/**
 * Use counts are forgotten only well after the approval expired: by then the verifier refuses
 * it for being expired (the clock tolerance is at most 10 minutes), so it cannot be used again.
 */
export const APPROVAL_FORGET_MARGIN_MS = 3600 * 1000;

export interface RunningServer {
  readonly url: string;
  readonly server: Server;
  readonly store: ExecutionStore;
  /** Key ids of the approver keys (clawshield mode): not secret, logged at start. */
  readonly approvalKeyIds: readonly string[] | null;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), closes the store. */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  /** Extra handlers (tests register slow or counting handlers here). */
  handlers?: readonly Handler[];
  /** Where request logs go (default: stdout). */
  logger?: Logger;
}

export function loadApprovalKeys(config: Config): KeySet | null {
  if (config.mode !== 'clawshield') return null;
  const pem = config.approvals.publicKeyPem?.replace(/\\n/g, '\n');
  let jwks: string | undefined;
  if (config.approvals.keysFile) {
    try {
      jwks = readFileSync(config.approvals.keysFile, 'utf8');
    } catch (error) {
      throw new ConfigError(
        `OPENEXEC_APPROVAL_KEYS_FILE: cannot read ${config.approvals.keysFile}: ${(error as Error).message}`,
      );
    }
  }
  try {
    return parseKeySet({ ...(pem ? { pem } : {}), ...(jwks ? { jwks } : {}) });
  } catch (error) {
    const variable = jwks && !pem ? 'OPENEXEC_APPROVAL_KEYS_FILE' : 'CLAWSHIELD_PUBLIC_KEY';
    throw new ConfigError(`${variable}: ${(error as Error).message}`);
  }
}

export function buildRegistry(config: Config, extra: readonly Handler[] = []): HandlerRegistry {
  try {
    return createRegistry([...builtinHandlers, ...extra], { allowed: config.allowedActions });
  } catch (error) {
    // Only an allow-list entry can be unknown; duplicate or reserved names come from the actions file.
    const variable =
      (error as { code?: string }).code === 'ERR_HANDLER_UNKNOWN_ALLOWED'
        ? 'OPENEXEC_ALLOWED_ACTIONS'
        : 'OPENEXEC_ACTIONS_FILE';
    throw new ConfigError(`${variable}: ${(error as Error).message}`);
  }
}

/** Governed process/code actions from OPENEXEC_ACTIONS_FILE, checked (paths, digests, sandbox) at start-up. */
export async function loadGovernedActions(
  config: Config,
  warn: (message: string) => void,
): Promise<Handler[]> {
  if (!config.actionsFile) return [];
  try {
    return await loadGovernedHandlers(await readGovernedConfig(config.actionsFile), { onWarning: warn });
  } catch (error) {
    if (error instanceof GovernedConfigError) {
      const details = error.issues.map(
        (issue) => `  ${issue.path}${issue.line ? ` (line ${issue.line})` : ''}: ${issue.message}`,
      );
      throw new ConfigError(
        `OPENEXEC_ACTIONS_FILE: ${error.message}${details.length ? `\n${details.join('\n')}` : ''}`,
      );
    }
    throw new ConfigError(`OPENEXEC_ACTIONS_FILE: ${(error as Error).message}`);
  }
}

/**
 * Requests Node's HTTP parser refuses before any route sees them (malformed, headers too large,
 * too slow to arrive) get the API's `{detail, code}` shape instead of Node's empty answers.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request did not arrive in time']
        : [400, 'malformed_http', 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify({ detail, code });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

export async function startServer(config: Config, options: StartOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger();
  const governed = await loadGovernedActions(config, (message) =>
    logger.warn({ msg: message }, 'governed actions'),
  );
  const registry = buildRegistry(config, [...(options.handlers ?? []), ...governed]);
  const longestTimeoutMs = Math.max(0, ...registry.describe().map((action) => action.timeoutMs));
  if (longestTimeoutMs >= config.leaseMs) {
    logger.warn(
      { lease_ms: config.leaseMs, handler_timeout_ms: longestTimeoutMs },
      'OPENEXEC_LEASE_MS is not longer than the longest handler timeout: a run that outlasts the lease is reported indeterminate while it still runs',
    );
  }
  if (config.mode === 'clawshield' && config.approvals.allowMockIssuers) {
    logger.warn(
      'OPENEXEC_ALLOW_MOCK_APPROVER is on: approvals minted by the development mock approver are accepted; never in production',
    );
  }
  const keys = loadApprovalKeys(config);
  const keyPath = receiptKeyPath(config.receiptKeyFile, config.dbUrl);
  const { signer, privateKeyPem } = loadReceiptSigner(keyPath);
  const chain = config.instanceId;
  const store = await openExecutionStore({
    receipts: receiptSealerModule(privateKeyPem, chain),
    url: config.dbUrl,
    owner: config.instanceId,
    leaseMs: config.leaseMs,
    storePayloads: config.storePayloads,
    busyTimeoutMs: config.dbBusyTimeoutMs,
    poolSize: config.dbPoolSize,
  });

  await store.registerSigningKey({ kid: signer.kid, chain, publicJwk: JSON.stringify(signer.publicJwk) });

  /** Signs (chain, seq, head) when the chain moved since the last checkpoint; returns the latest. */
  const checkpoint = async (): Promise<SignedCheckpoint | null> => {
    const head = store.chainHead();
    if (!head) return null;
    const latest = await store.latestCheckpoint(chain);
    if (latest && latest.seq >= head.seq) return JSON.parse(latest.body) as SignedCheckpoint;
    const signed = signer.signCheckpoint({ chain, seq: head.seq, head: head.hash });
    await store.saveCheckpoint({ chain, seq: signed.seq, head: signed.head, body: JSON.stringify(signed) });
    return signed;
  };

  const verify: ApprovalVerifier | null = keys
    ? (artifact, request, tenant) =>
        verifyApproval(artifact, request, {
          now: new Date(),
          tenant,
          keys,
          maxLifetimeSeconds: config.approvals.maxLifetimeSeconds,
          clockToleranceSeconds: config.approvals.clockToleranceSeconds,
          allowMockIssuers: config.approvals.allowMockIssuers,
        })
    : null;
  const metrics = createMetrics();
  const apiKeys = config.apiKeysFile ? loadApiKeys(config.apiKeysFile) : null;
  const service = new ExecutionService({
    config,
    registry,
    store,
    verifyApproval: verify,
    observer: metrics.observer,
    concurrency: new ConcurrencyLimiter(config.maxConcurrentPerAction),
  });

  let shuttingDown = false;
  const app = createApp({
    config,
    registry,
    store,
    service,
    approvalKeyCount: keys?.size ?? 0,
    receipts: { chain, kid: signer.kid, checkpoint },
    logger,
    metrics,
    apiKeys,
    isShuttingDown: () => shuttingDown,
  });
  const server = createServer(
    {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      keepAliveTimeout: 5_000,
      // How often Node checks the two timeouts above; at most a quarter of the shorter one.
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(config.headersTimeoutMs / 4))),
    },
    app,
  );
  server.on('clientError', answerClientError);

  // Reservations whose owner died turn indeterminate once their lease has run out.
  const sweep = setInterval(
    () => {
      store.expireLeases().catch(() => {});
    },
    Math.max(1_000, Math.floor(config.leaseMs / 4)),
  );
  sweep.unref();
  // Retention: stored responses and payloads go after the retention period; nonces stay.
  const purgeOld = () => {
    const now = Date.now();
    store
      .purge({
        completedBefore: now - config.responseRetentionMs,
        approvalsExpiredBefore: now - APPROVAL_FORGET_MARGIN_MS,
      })
      .catch(() => {});
  };
  const purge = setInterval(purgeOld, 3600 * 1000);
  purge.unref();
  // Checkpoints published on a schedule anchor the chain head outside the newest receipts.
  const checkpoints = setInterval(() => {
    checkpoint().catch(() => {});
  }, config.checkpointIntervalMs);
  checkpoints.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${address.port}`,
    server,
    store,
    approvalKeyIds: keys ? keys.kids : null,
    shutdown() {
      closing ??= (async () => {
        shuttingDown = true;
        clearInterval(sweep);
        clearInterval(purge);
        clearInterval(checkpoints);
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        const grace = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
        await closed;
        clearTimeout(grace);
        await checkpoint().catch(() => {});
        logger.flush();
        await store.close();
      })();
      return closing;
    },
  };
}
