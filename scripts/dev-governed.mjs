#!/usr/bin/env node
// DEVELOPMENT ONLY: starts OpenExec in clawshield mode next to the mock approver
// (apps/clawshield-mock), so approvals can be requested, approved and executed locally.
// Run through `pnpm dev:governed`, which builds both apps first. Walk-through:
// docs/local-development.md. Plain Node, no dependencies.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MOCK_CLI = join(ROOT, 'apps/clawshield-mock/dist/cli.js');
const API_MAIN = join(ROOT, 'apps/openexec-api/dist/main.js');
const STATE_DIR = join(ROOT, '.openexec');
const KEY_DIR = join(STATE_DIR, 'dev-keys');
const PRIVATE_KEY = join(KEY_DIR, 'approver.key.pem');
const PUBLIC_KEY = join(KEY_DIR, 'approver.pub.pem');
const TENANT = 'dev-tenant';
const API_PORT = port('OPENEXEC_DEV_API_PORT', 5000);
const MOCK_PORT = port('OPENEXEC_DEV_MOCK_PORT', 5100);
const API = `http://127.0.0.1:${API_PORT}`;
const MOCK = `http://127.0.0.1:${MOCK_PORT}`;

function port(variable, fallback) {
  const value = process.env[variable];
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 65_535) {
    fail(`${variable}: expected a port number (1-65535), got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

function fail(message) {
  console.error(`dev-governed: ${message}`);
  process.exit(1);
}

for (const file of [MOCK_CLI, API_MAIN]) {
  if (!existsSync(file)) {
    fail(`${relative(ROOT, file)} is missing: build first (npx -y pnpm@10.34.9 dev:governed does it)`);
  }
}

mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
if (!existsSync(PRIVATE_KEY)) {
  const keygen = spawnSync(process.execPath, [MOCK_CLI, 'keygen', '--out', KEY_DIR], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (keygen.status !== 0) fail('keygen failed');
  console.log(`dev-governed: generated a development approver key in ${relative(ROOT, KEY_DIR)}/`);
}

const children = new Map();
let stopping = false;

function start(name, args, env) {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const prefix = (stream, out) => {
    let buffered = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) out.write(`[${name}] ${line}\n`);
    });
    stream.on('end', () => {
      if (buffered) out.write(`[${name}] ${buffered}\n`);
    });
  };
  prefix(child.stdout, process.stdout);
  prefix(child.stderr, process.stderr);
  children.set(name, child);
  child.on('exit', (code, signal) => {
    children.delete(name);
    if (!stopping) {
      console.error(`dev-governed: ${name} exited (${signal ?? `code ${code}`}); stopping the other process`);
      stop('SIGTERM', code === 0 || code === null ? 1 : code);
    } else if (children.size === 0) {
      process.exit(process.exitCode ?? 0);
    }
  });
  return child;
}

function stop(signal, exitCode = 0) {
  if (!stopping) process.exitCode = exitCode;
  stopping = true;
  if (children.size === 0) process.exit(process.exitCode ?? 0);
  for (const child of children.values()) child.kill(signal);
  // A child that ignores the signal must not keep the terminal hostage.
  setTimeout(() => {
    for (const child of children.values()) child.kill('SIGKILL');
    process.exit(process.exitCode ?? 1);
  }, 15_000).unref();
}

// Both signals are forwarded as SIGTERM: on Ctrl-C the terminal already sends SIGINT to the
// children (same process group), and a second SIGINT could cut a graceful drain short. Each
// child treats SIGINT and SIGTERM alike (stop accepting, finish in-flight requests, exit).
process.on('SIGINT', () => stop('SIGTERM'));
process.on('SIGTERM', () => stop('SIGTERM'));

start('mock', [
  MOCK_CLI,
  'serve',
  '--key',
  PRIVATE_KEY,
  '--tenant',
  TENANT,
  '--port',
  String(MOCK_PORT),
  '--host',
  '127.0.0.1',
]);
start('api', [API_MAIN], {
  HOST: '127.0.0.1',
  PORT: String(API_PORT),
  OPENEXEC_MODE: 'clawshield',
  CLAWSHIELD_PUBLIC_KEY: readFileSync(PUBLIC_KEY, 'utf8'),
  CLAWSHIELD_TENANT_ID: TENANT,
  OPENEXEC_ALLOW_MOCK_APPROVER: '1',
  OPENEXEC_DB_URL: 'sqlite:///.openexec/dev.db',
});

async function waitFor(url) {
  const deadline = Date.now() + 30_000;
  while (!stopping && Date.now() < deadline) {
    try {
      if ((await fetch(url)).ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return false;
}

const ready = await Promise.all([waitFor(`${MOCK}/keys`), waitFor(`${API}/ready`)]);
if (!stopping) {
  if (!ready.every(Boolean)) {
    console.error('dev-governed: the services did not become ready within 30 s');
    stop('SIGTERM', 1);
  } else {
    console.log(`
dev-governed: DEVELOPMENT ONLY governed stack is up
  OpenExec API  ${API}  (clawshield mode, tenant ${TENANT}, mock approvals allowed, db .openexec/dev.db)
  mock approver ${MOCK}  (open it in a browser to approve or deny requests)

Try it (docs/local-development.md has the whole walk-through):
  curl -s -X POST ${MOCK}/requests -H 'Content-Type: application/json' \\
    -d '{"action":"echo","payload":{"msg":"hello"},"nonce":"try-1","reason":"first try"}'
  # approve it at ${MOCK}/ or: curl -s -X POST ${MOCK}/requests/<id>/approve
  curl -s ${MOCK}/requests/<id>      # the "artifact" field is the approval
  curl -s -X POST ${API}/execute -H 'Content-Type: application/json' \\
    -d '{"action":"echo","payload":{"msg":"hello"},"nonce":"try-1","approval_artifact":"<artifact>"}'

Ctrl-C stops both.
`);
  }
}
