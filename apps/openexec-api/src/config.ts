import { hostname } from 'node:os';
import { z } from 'zod';

export class ConfigError extends Error {
  readonly code = 'ERR_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const boolean = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off', ''])
  .transform((value) => ['1', 'true', 'yes', 'on'].includes(value));
const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const EnvSchema = z.object({
  PORT: integer(0, 65_535).default(5000),
  HOST: z.string().min(1).default('127.0.0.1'),
  OPENEXEC_MODE: z.enum(['demo', 'clawshield']).default('demo'),
  OPENEXEC_ALLOWED_ACTIONS: z.string().optional(),
  OPENEXEC_DB_URL: z.string().min(1).default('sqlite:///openexec.db'),
  OPENEXEC_INSTANCE_ID: z.string().min(1).max(200).optional(),
  OPENEXEC_TENANT_ID: z.string().min(1).max(200).optional(),
  OPENEXEC_BODY_LIMIT_BYTES: integer(1_024, 16 * 1024 * 1024).default(64 * 1024),
  OPENEXEC_MAX_RESULT_BYTES: integer(1_024, 64 * 1024 * 1024).default(4 * 1024 * 1024),
  OPENEXEC_ACTIONS_FILE: z.string().min(1).optional(),
  OPENEXEC_LEASE_MS: integer(1_000, 7 * 24 * 3600 * 1000).default(5 * 60 * 1000),
  OPENEXEC_STORE_PAYLOADS: boolean.default(false),
  OPENEXEC_ALLOW_INSECURE_DEMO: boolean.default(false),
  OPENEXEC_SHUTDOWN_GRACE_MS: integer(0, 600_000).default(10_000),
  OPENEXEC_RESPONSE_RETENTION_HOURS: integer(1, 24 * 3650).default(24 * 7),
  OPENEXEC_RECEIPT_KEY_FILE: z.string().min(1).optional(),
  OPENEXEC_CHECKPOINT_INTERVAL_S: integer(1, 86_400).default(60),
  OPENEXEC_API_KEYS_FILE: z.string().min(1).optional(),
  OPENEXEC_METRICS_TOKEN_SHA256: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'expected the lowercase hex SHA-256 of the token')
    .optional(),
  OPENEXEC_RATE_LIMIT_PER_IP: integer(0, 10_000_000).default(3_000),
  OPENEXEC_RATE_LIMIT_PER_KEY: integer(0, 10_000_000).default(6_000),
  OPENEXEC_MAX_CONCURRENT_PER_ACTION: integer(1, 100_000).default(64),
  OPENEXEC_TRUST_PROXY: boolean.default(false),
  OPENEXEC_HEADERS_TIMEOUT_MS: integer(100, 600_000).default(10_000),
  OPENEXEC_REQUEST_TIMEOUT_MS: integer(100, 600_000).default(30_000),
  OPENEXEC_DB_BUSY_TIMEOUT_MS: integer(0, 60_000).default(5_000),
  OPENEXEC_DB_POOL_SIZE: integer(1, 100).default(10),
  CLAWSHIELD_PUBLIC_KEY: z.string().optional(),
  CLAWSHIELD_TENANT_ID: z.string().min(1).max(200).optional(),
  OPENEXEC_APPROVAL_KEYS_FILE: z.string().min(1).optional(),
  OPENEXEC_APPROVAL_MAX_LIFETIME_S: integer(1, 30 * 24 * 3600).default(3600),
  OPENEXEC_CLOCK_TOLERANCE_S: integer(0, 600).default(30),
  OPENEXEC_ALLOW_MOCK_APPROVER: boolean.default(false),
});

export interface Config {
  port: number;
  host: string;
  mode: 'demo' | 'clawshield';
  allowedActions: string[] | null;
  dbUrl: string;
  instanceId: string;
  tenant: string;
  bodyLimitBytes: number;
  maxResultBytes: number;
  leaseMs: number;
  storePayloads: boolean;
  allowInsecureDemo: boolean;
  shutdownGraceMs: number;
  dbBusyTimeoutMs: number;
  apiKeysFile: string | null;
  /** Operator config of governed process/code actions (JSON or YAML). */
  actionsFile: string | null;
  metricsTokenSha256: string | null;
  /** Requests per minute per client address on /execute; 0 disables. */
  rateLimitPerIp: number;
  rateLimitPerKey: number;
  maxConcurrentPerAction: number;
  trustProxy: boolean;
  /** Slow clients: all headers within this, the whole request within the next. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  receiptKeyFile: string | null;
  checkpointIntervalMs: number;
  responseRetentionMs: number;
  dbPoolSize: number;
  approvals: {
    publicKeyPem: string | null;
    keysFile: string | null;
    maxLifetimeSeconds: number;
    clockToleranceSeconds: number;
    allowMockIssuers: boolean;
  };
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

/**
 * Parses the environment once at start-up. Any bad value stops the process with a message
 * that names the variable, rather than surfacing later as a confusing runtime error.
 */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  // An empty variable means "unset" for everything but the boolean flags' explicit ''.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = EnvSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'environment'}: ${issue.message}`,
    );
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  const e = parsed.data;
  const allowedActions = e.OPENEXEC_ALLOWED_ACTIONS
    ? e.OPENEXEC_ALLOWED_ACTIONS.split(',')
        .map((name) => name.trim())
        .filter(Boolean)
    : null;
  if (allowedActions && allowedActions.length === 0) {
    throw new ConfigError(
      'OPENEXEC_ALLOWED_ACTIONS: names no action (unset it to allow every registered action)',
    );
  }
  if (e.OPENEXEC_MODE === 'demo' && !isLoopback(e.HOST) && !e.OPENEXEC_ALLOW_INSECURE_DEMO) {
    throw new ConfigError(
      `HOST: demo mode executes without approvals and refuses to listen on ${e.HOST}; ` +
        'bind to 127.0.0.1, use OPENEXEC_MODE=clawshield, or set OPENEXEC_ALLOW_INSECURE_DEMO=1 if you accept the risk',
    );
  }
  let tenant = e.OPENEXEC_TENANT_ID ?? e.CLAWSHIELD_TENANT_ID ?? 'default';
  if (e.OPENEXEC_MODE === 'clawshield') {
    if (!e.CLAWSHIELD_TENANT_ID) {
      throw new ConfigError(
        'CLAWSHIELD_TENANT_ID: required when OPENEXEC_MODE=clawshield (approvals are bound to a tenant)',
      );
    }
    if (!e.CLAWSHIELD_PUBLIC_KEY && !e.OPENEXEC_APPROVAL_KEYS_FILE) {
      throw new ConfigError(
        'CLAWSHIELD_PUBLIC_KEY: clawshield mode needs the approver key: set CLAWSHIELD_PUBLIC_KEY (PEM) or OPENEXEC_APPROVAL_KEYS_FILE (JWKS)',
      );
    }
    tenant = e.CLAWSHIELD_TENANT_ID;
  }
  return {
    port: e.PORT,
    host: e.HOST,
    mode: e.OPENEXEC_MODE,
    allowedActions,
    dbUrl: e.OPENEXEC_DB_URL,
    // PORT=0 takes a new port at every start, so every such process on a host would share
    // `host:0`: a second one would mark the first's running executions indeterminate at its
    // start-up and append to its receipt chain. The process id tells live processes apart.
    instanceId:
      e.OPENEXEC_INSTANCE_ID ?? (e.PORT === 0 ? `${hostname()}:0:${process.pid}` : `${hostname()}:${e.PORT}`),
    tenant,
    bodyLimitBytes: e.OPENEXEC_BODY_LIMIT_BYTES,
    maxResultBytes: e.OPENEXEC_MAX_RESULT_BYTES,
    leaseMs: e.OPENEXEC_LEASE_MS,
    storePayloads: e.OPENEXEC_STORE_PAYLOADS,
    allowInsecureDemo: e.OPENEXEC_ALLOW_INSECURE_DEMO,
    shutdownGraceMs: e.OPENEXEC_SHUTDOWN_GRACE_MS,
    dbBusyTimeoutMs: e.OPENEXEC_DB_BUSY_TIMEOUT_MS,
    apiKeysFile: e.OPENEXEC_API_KEYS_FILE ?? null,
    actionsFile: e.OPENEXEC_ACTIONS_FILE ?? null,
    metricsTokenSha256: e.OPENEXEC_METRICS_TOKEN_SHA256 ?? null,
    rateLimitPerIp: e.OPENEXEC_RATE_LIMIT_PER_IP,
    rateLimitPerKey: e.OPENEXEC_RATE_LIMIT_PER_KEY,
    maxConcurrentPerAction: e.OPENEXEC_MAX_CONCURRENT_PER_ACTION,
    trustProxy: e.OPENEXEC_TRUST_PROXY,
    headersTimeoutMs: e.OPENEXEC_HEADERS_TIMEOUT_MS,
    requestTimeoutMs: Math.max(e.OPENEXEC_REQUEST_TIMEOUT_MS, e.OPENEXEC_HEADERS_TIMEOUT_MS),
    receiptKeyFile: e.OPENEXEC_RECEIPT_KEY_FILE ?? null,
    checkpointIntervalMs: e.OPENEXEC_CHECKPOINT_INTERVAL_S * 1000,
    responseRetentionMs: e.OPENEXEC_RESPONSE_RETENTION_HOURS * 3600 * 1000,
    dbPoolSize: e.OPENEXEC_DB_POOL_SIZE,
    approvals: {
      publicKeyPem: e.CLAWSHIELD_PUBLIC_KEY ?? null,
      keysFile: e.OPENEXEC_APPROVAL_KEYS_FILE ?? null,
      maxLifetimeSeconds: e.OPENEXEC_APPROVAL_MAX_LIFETIME_S,
      clockToleranceSeconds: e.OPENEXEC_CLOCK_TOLERANCE_S,
      allowMockIssuers: e.OPENEXEC_ALLOW_MOCK_APPROVER,
    },
  };
}
