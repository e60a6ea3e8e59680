import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseKeySet } from '@openexec/approval-verifier';
import { MockError } from './errors.js';
import { inspectApproval } from './inspect.js';
import { generateApproverKey, readApproverKeyFile, writeKeyFiles } from './keys.js';
import { type ApprovalFormat, createApprover, mintApproval } from './mint.js';
import { DEV_ONLY_WARNING } from './safety.js';
import { DEFAULT_HOST, DEFAULT_PORT, type RunningMock, startMockServer } from './serve.js';

export const USAGE = `clawshield-mock: DEVELOPMENT-ONLY approver for OpenExec clawshield mode

Usage:
  clawshield-mock keygen --out <dir> [--force]
  clawshield-mock mint --key <private.pem> --tenant <t> --action <a> [--payload '<json>'|@file]
                       [--format v1|legacy] [--ttl 300] [--nonce n] [--max n] [--sub s] [--name n]
  clawshield-mock inspect <token|'<json>'|@file> [--jwks <file> | --pub <public.pem>]
                          [--action <a> --payload '<json>'|@file]
  clawshield-mock serve --key <private.pem> --tenant <t> [--port 5100] [--host 127.0.0.1] [--name n]

Exit status: 0 ok, 1 refused or failed (inspect: signature or payload does not match), 2 usage error.
`;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: NodeJS.ProcessEnv;
  /** Fixed clock / ids for reproducible output (tests). */
  now?: () => Date;
  newId?: () => string;
}

export type CliResult = { exitCode: number } | { exitCode: null; server: RunningMock };

const usage = (message: string) => new MockError('ERR_MOCK_USAGE', message);

function required(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') throw usage(`--${name} is required`);
  return value;
}

function integer(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw usage(`--${name}: expected a whole number, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw usage(`--${name}: must be between ${min} and ${max}`);
  return n;
}

/** A literal argument, or the contents of a file when it starts with `@`. */
function textOrFile(value: string, name: string): string {
  if (!value.startsWith('@')) return value;
  try {
    return readFileSync(value.slice(1), 'utf8');
  } catch (error) {
    throw usage(`--${name}: cannot read ${value.slice(1)}: ${(error as Error).message}`);
  }
}

function jsonObject(text: string, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw usage(`--${name}: not valid JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw usage(`--${name}: must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function format(value: string | undefined): ApprovalFormat {
  if (value === undefined || value === 'v1' || value === 'legacy') return value ?? 'v1';
  throw usage(`--format: expected v1 or legacy, got ${JSON.stringify(value)}`);
}

function keygen(args: string[], io: CliIo): number {
  const { values } = parseArgs({
    args,
    options: { out: { type: 'string' }, force: { type: 'boolean', default: false } },
    strict: true,
  });
  io.stderr(`${DEV_ONLY_WARNING}\n`);
  const key = generateApproverKey();
  const files = writeKeyFiles(required(values, 'out'), key, { force: values.force });
  io.stdout(
    `${JSON.stringify({ kid: key.kid, private_key: files.privateKey, public_key: files.publicKey, jwks: files.jwks }, null, 2)}\n`,
  );
  return 0;
}

function mint(args: string[], io: CliIo): number {
  const { values } = parseArgs({
    args,
    options: {
      key: { type: 'string' },
      tenant: { type: 'string' },
      action: { type: 'string' },
      payload: { type: 'string' },
      format: { type: 'string' },
      ttl: { type: 'string' },
      nonce: { type: 'string' },
      max: { type: 'string' },
      sub: { type: 'string' },
      name: { type: 'string' },
    },
    strict: true,
  });
  const keyPath = required(values, 'key');
  const tenant = required(values, 'tenant');
  const action = required(values, 'action');
  const payload = jsonObject(textOrFile(values.payload ?? '{}', 'payload'), 'payload');
  const ttl = integer(values.ttl, 'ttl', 1, 3600);
  const max = integer(values.max, 'max', 1, 1000);
  const fmt = format(values.format);
  io.stderr(`${DEV_ONLY_WARNING}\n`);
  const approver = createApprover({
    key: readApproverKeyFile(keyPath),
    tenant,
    ...(values.name === undefined ? {} : { name: values.name }),
    ...(io.now ? { now: io.now } : {}),
    ...(io.newId ? { newId: io.newId } : {}),
  });
  const minted = mintApproval(approver, fmt, {
    action,
    payload,
    ...(values.nonce === undefined ? {} : { nonce: values.nonce }),
    ...(max === undefined ? {} : { max }),
    ...(values.sub === undefined ? {} : { sub: values.sub }),
    ...(ttl === undefined ? {} : { ttlSeconds: ttl }),
  });
  io.stdout(`${typeof minted.artifact === 'string' ? minted.artifact : JSON.stringify(minted.artifact)}\n`);
  return 0;
}

function readKeys(values: { jwks?: string | undefined; pub?: string | undefined }) {
  if (values.jwks !== undefined && values.pub !== undefined) throw usage('give --jwks or --pub, not both');
  const file = values.jwks ?? values.pub;
  if (file === undefined) return undefined;
  const name = values.jwks !== undefined ? 'jwks' : 'pub';
  const text = textOrFile(`@${file}`, name);
  try {
    return parseKeySet(name === 'jwks' ? { jwks: text } : { pem: text });
  } catch (error) {
    throw usage(`--${name}: ${(error as Error).message}`);
  }
}

function inspect(args: string[], io: CliIo): number {
  const { values, positionals } = parseArgs({
    args,
    options: {
      jwks: { type: 'string' },
      pub: { type: 'string' },
      action: { type: 'string' },
      payload: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw usage('inspect takes exactly one artifact (a token, JSON, or @file)');
  const artifact = textOrFile(positionals[0] as string, 'artifact').trim();
  const keys = readKeys(values);
  if (values.action !== undefined && values.payload === undefined) throw usage('--action needs --payload');
  const payload =
    values.payload === undefined ? undefined : jsonObject(textOrFile(values.payload, 'payload'), 'payload');
  const report = inspectApproval(artifact, {
    ...(io.now ? { now: io.now() } : {}),
    ...(keys ? { keys } : {}),
    ...(values.action === undefined ? {} : { action: values.action }),
    ...(payload === undefined ? {} : { payload }),
  });
  io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  return report.signature.status === 'invalid' || report.payloadMatches === false ? 1 : 0;
}

async function serve(args: string[], io: CliIo): Promise<CliResult> {
  const { values } = parseArgs({
    args,
    options: {
      key: { type: 'string' },
      tenant: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      name: { type: 'string' },
    },
    strict: true,
  });
  const keyPath = required(values, 'key');
  const tenant = required(values, 'tenant');
  const port = integer(values.port, 'port', 0, 65_535) ?? DEFAULT_PORT;
  const host = values.host ?? DEFAULT_HOST;
  const approver = createApprover({
    key: readApproverKeyFile(keyPath),
    tenant,
    ...(values.name === undefined ? {} : { name: values.name }),
  });
  const server = await startMockServer({ approver, host, port, env: io.env });
  io.stderr(`${DEV_ONLY_WARNING}\n`);
  io.stdout(
    `clawshield-mock listening on ${server.url} (tenant ${tenant}, issuer ${approver.issuer}, kid ${approver.key.kid})\n`,
  );
  return { exitCode: null, server };
}

function exitCodeOf(error: unknown): number {
  if (error instanceof MockError) {
    return error.code === 'ERR_MOCK_USAGE' || error.code === 'ERR_MOCK_INVALID_INPUT' ? 2 : 1;
  }
  // node:util parseArgs: unknown flag, missing value, unexpected positional.
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) return 2;
  return 1;
}

/** The whole CLI as a function: argv in, exit code out (or the running server for `serve`). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<CliResult> {
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'keygen':
        return { exitCode: keygen(args, io) };
      case 'mint':
        return { exitCode: mint(args, io) };
      case 'inspect':
        return { exitCode: inspect(args, io) };
      case 'serve':
        return await serve(args, io);
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return { exitCode: 0 };
      default:
        throw usage(
          command === undefined ? 'no command given' : `unknown command ${JSON.stringify(command)}`,
        );
    }
  } catch (error) {
    const exitCode = exitCodeOf(error);
    const message = error instanceof Error ? error.message : String(error);
    const listenFailure = (error as { code?: unknown }).code === 'EADDRINUSE';
    io.stderr(`clawshield-mock: ${listenFailure ? `cannot listen: ${message}` : message}\n`);
    if (exitCode === 2) io.stderr(`\n${USAGE}`);
    return { exitCode };
  }
}
