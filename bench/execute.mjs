#!/usr/bin/env node
// /execute throughput and latency over real HTTP, 32 connections, unique nonces, next to a
// bare Express JSON endpoint measured in the same run (the ceiling on this machine).
//   node bench/execute.mjs [--duration 10] [--connections 32] [--only sqlite,postgresql,bare] [--rate N] [--runs N]
// --rate offers a fixed N requests/s in all instead of as many as the server answers (CPU per
// request below saturation). --runs N repeats the whole set N times and adds the medians: this
// VM's speed drifts between runs, so one run's share of the ceiling is one draw. To compare two builds, bench/compare.mjs runs them side by side.
// PostgreSQL runs when OPENEXEC_BENCH_PG_URL (or OPENEXEC_TEST_PG_URL) names a server that can
// create databases. Needs a build: `npx -y pnpm@10.34.9 bench` builds first.
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import pg from 'pg';
import {
  BENCH_ENV,
  cpuSeconds,
  driveExecute,
  executeBody,
  median,
  PAYLOAD,
  perRequest,
  startServer,
  stopServer,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    only: { type: 'string', default: 'bare,sqlite,clawshield,postgresql' },
    rate: { type: 'string' },
    runs: { type: 'string', default: '1' },
  },
});
const duration = Number(values.duration);
const connections = Number(values.connections);
const only = new Set(values.only.split(','));
const rate = values.rate === undefined ? undefined : Number(values.rate);
const runs = Number(values.runs);
const pgUrl = process.env.OPENEXEC_BENCH_PG_URL ?? process.env.OPENEXEC_TEST_PG_URL;
const apiMain = new URL('../apps/openexec-api/dist/main.js', import.meta.url).pathname;
// Extra node flags for the servers, e.g. OPENEXEC_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=prof".
const nodeArgs = (process.env.OPENEXEC_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const bareMain = new URL('./bare-express.mjs', import.meta.url).pathname;

// clawshield mode: every request carries a fresh v1 approval bound to its nonce, minted here
// (on the load generator's core) so the server pays only for verification and consumption.
const approver = generateKeyPairSync('ed25519');
const approverX = approver.publicKey.export({ format: 'jwk' }).x;
const approverKid = createHash('sha256')
  .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x: approverX }))
  .digest('base64url');
// The approval's payload digest: SHA-256 of the payload's RFC 8785 form, which for PAYLOAD
// (keys in order, no floats) is what JSON.stringify writes.
const PDG = createHash('sha256').update(JSON.stringify(PAYLOAD)).digest('base64url');
const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
function mintApproval(nonce) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'EdDSA', typ: 'openexec-approval+jwt', kid: approverKid })}.${b64({
    iss: 'bench',
    aud: 'bench',
    jti: randomUUID(),
    iat: now,
    nbf: now,
    exp: now + 300,
    act: 'echo',
    pdg: PDG,
    non: nonce,
  })}`;
  return `${input}.${sign(null, Buffer.from(input), approver.privateKey).toString('base64url')}`;
}
const CLAWSHIELD_ENV = {
  OPENEXEC_MODE: 'clawshield',
  CLAWSHIELD_TENANT_ID: 'bench',
  CLAWSHIELD_PUBLIC_KEY: approver.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
};

const body = (clawshield) => () =>
  executeBody(clawshield ? (nonce) => ({ approval_artifact: mintApproval(nonce) }) : undefined);

async function measure(name, script, env) {
  const { child, url } = await startServer(script, { ...BENCH_ENV, ...env }, nodeArgs);
  const load = { connections, duration, rate, body: body(env.OPENEXEC_MODE === 'clawshield') };
  try {
    await driveExecute(url, load); // warm-up (JIT, page cache); also proves the server is healthy
    const cpuBefore = cpuSeconds(child.pid);
    const mainBefore = cpuSeconds(child.pid, child.pid);
    const result = await driveExecute(url, load);
    const cpuAfter = cpuSeconds(child.pid);
    const mainAfter = cpuSeconds(child.pid, child.pid);
    const errors = result.errors + result.timeouts + (result.non2xx ?? 0);
    return {
      name,
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      errors,
      total: result.requests.total,
      // Server CPU per request: steadier than req/s on a shared VM, and what the work costs.
      cpuUs: perRequest(cpuBefore, cpuAfter, result.requests.total),
      // The thread that serves HTTP: the one that saturates first.
      mainUs: perRequest(mainBefore, mainAfter, result.requests.total),
    };
  } finally {
    await stopServer(child);
  }
}

async function runTargets(dir) {
  const rows = [];
  if (only.has('bare')) rows.push(await measure('bare Express JSON (ceiling)', bareMain, {}));
  if (only.has('sqlite')) {
    rows.push(
      await measure('OpenExec /execute, SQLite (WAL, synchronous=FULL)', apiMain, {
        OPENEXEC_DB_URL: `sqlite:///${join(dir, `bench-${Date.now()}.db`)}`,
      }),
    );
  }
  if (only.has('clawshield')) {
    rows.push(
      await measure('OpenExec /execute, SQLite, clawshield mode (v1 approval per request)', apiMain, {
        OPENEXEC_DB_URL: `sqlite:///${join(dir, `bench-clawshield-${Date.now()}.db`)}`,
        ...CLAWSHIELD_ENV,
      }),
    );
  }
  if (only.has('postgresql')) {
    if (!pgUrl) {
      console.warn('PostgreSQL skipped: set OPENEXEC_BENCH_PG_URL or OPENEXEC_TEST_PG_URL');
    } else {
      const name = `openexec_bench_${Date.now()}`;
      const admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      const url = new URL(pgUrl);
      url.pathname = `/${name}`;
      try {
        rows.push(
          await measure('OpenExec /execute, PostgreSQL', apiMain, { OPENEXEC_DB_URL: url.toString() }),
        );
      } finally {
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await admin.end();
      }
    }
  }
  const ceiling = rows.find((row) => row.name.startsWith('bare'))?.rps;
  for (const row of rows) row.share = ceiling ? (row.rps / ceiling) * 100 : null;
  return rows;
}

// One decimal: a rounded 50% may be 49.6%.
const percent = (share) => (share === null ? 'n/a' : `${share.toFixed(1)}%`);
const us = (value) => (value === null ? 'n/a' : Math.round(value));

const results = [];
const dir = mkdtempSync(join(tmpdir(), 'openexec-bench-'));
try {
  for (let run = 1; run <= runs; run++) {
    const rows = await runTargets(dir);
    results.push(rows);
    console.log(
      `\n/execute benchmark${runs > 1 ? `, run ${run} of ${runs}` : ''}: ${connections} connections${rate ? `, offered ${rate} req/s` : ''}, ${duration} s after a ${duration} s warm-up, unique nonces, ${cpus().length} CPUs, Node ${process.version}\n`,
    );
    console.log(
      '| target | req/s | p50 ms | p99 ms | errors | % of ceiling | server CPU µs/request | main thread µs/request |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const row of rows) {
      console.log(
        `| ${row.name} | ${Math.round(row.rps)} | ${row.p50} | ${row.p99} | ${row.errors} | ${percent(row.share)} | ${us(row.cpuUs)} | ${us(row.mainUs)} |`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (runs > 1) {
  console.log(`\nOver ${runs} runs (each share against the ceiling measured in its own run):\n`);
  console.log(
    '| target | median req/s | median % of ceiling | % of ceiling, min – max | p99 ms, max | errors |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [index, first] of results[0].entries()) {
    const rows = results.map((run) => run[index]);
    const shares = rows.map((row) => row.share).filter((share) => share !== null);
    console.log(
      `| ${first.name} | ${Math.round(median(rows.map((row) => row.rps)))} | ${shares.length ? percent(median(shares)) : 'n/a'} | ${shares.length ? `${percent(Math.min(...shares))} – ${percent(Math.max(...shares))}` : 'n/a'} | ${Math.max(...rows.map((row) => row.p99))} | ${rows.reduce((sum, row) => sum + row.errors, 0)} |`,
    );
  }
}
