#!/usr/bin/env node
// /execute throughput and latency over real HTTP, 32 connections, unique nonces, next to a
// bare Express JSON endpoint measured in the same run (the ceiling on this machine).
//   node bench/execute.mjs [--duration 20] [--turns 10] [--connections 32] [--only sqlite,postgresql,bare] [--rate N] [--runs N]
// All servers of a run are started together and measured in turns of duration/turns seconds,
// in ABBA order (bare, SQLite, …, then reversed): this VM's speed drifts by tens of percent
// within a minute, and the share of the ceiling is only meaningful when every target was
// measured in the same stretch of time. --rate offers a fixed N requests/s in all instead of as
// many as the server answers (CPU per request below saturation). --runs N repeats the whole
// set N times and adds the medians. To compare two builds, bench/compare.mjs runs them side by side.
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
  percentile,
  perRequest,
  startServer,
  stopServer,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '20' },
    turns: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    only: { type: 'string', default: 'bare,sqlite,clawshield,postgresql' },
    rate: { type: 'string' },
    runs: { type: 'string', default: '1' },
  },
});
const duration = Number(values.duration);
const turns = Math.max(1, Math.trunc(Number(values.turns)));
const turnSeconds = duration / turns;
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

// Every turn opens its connections at once; latency percentiles leave out the requests sent in
// the first quarter second, which queue behind that burst (a steady client keeps its
// connections open). Throughput and errors count every request.
const SETTLE_MS = 250;

/** A started target: its server, and what its turns have measured so far. */
async function startTarget(name, script, env) {
  const { child, url } = await startServer(script, { ...BENCH_ENV, ...env }, nodeArgs);
  const load = {
    connections,
    duration: turnSeconds,
    rate,
    settleMs: SETTLE_MS,
    body: body(env.OPENEXEC_MODE === 'clawshield'),
  };
  return { name, child, url, load, turns: [] };
}

const round = (ms) => Math.round(ms * 10) / 10;
const spent = (before, after) => (before === null || after === null ? null : after - before);
const sum = (values) => (values.includes(null) ? null : values.reduce((total, value) => total + value, 0));

async function measureTurn(target) {
  const { pid } = target.child;
  const cpuBefore = cpuSeconds(pid);
  const mainBefore = cpuSeconds(pid, pid);
  const result = await driveExecute(target.url, target.load);
  target.turns.push({
    result,
    cpu: spent(cpuBefore, cpuSeconds(pid)),
    main: spent(mainBefore, cpuSeconds(pid, pid)),
  });
}

/** One row of the table from a target's turns. */
function summarise(target) {
  const results = target.turns.map((turn) => turn.result);
  const latencies = results.flatMap((r) => r.latencies);
  const total = sum(results.map((r) => r.requests.total));
  const cpu = (key) => perRequest(0, sum(target.turns.map((turn) => turn[key])), total);
  return {
    name: target.name,
    rps: total / sum(results.map((r) => r.duration)),
    // Over every request of every turn after its first quarter second (what the targets are
    // judged on), to 0.1 ms.
    p50: round(percentile(latencies, 50)),
    p99: round(percentile(latencies, 99)),
    // The worst turn's p99: one stall of this VM sets it, which the whole-run figure dilutes.
    p99Worst: Math.max(...results.map((r) => r.latency.p99)),
    errors: sum(results.map((r) => r.errors + r.timeouts + (r.non2xx ?? 0))),
    total,
    // Server CPU per request: steadier than req/s on a shared VM, and what the work costs.
    cpuUs: cpu('cpu'),
    // The thread that serves HTTP.
    mainUs: cpu('main'),
  };
}

/** One statement on the PostgreSQL server itself (creating and dropping the bench database). */
async function adminQuery(sql) {
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

async function runTargets(dir) {
  const targets = [];
  let pgDatabase = null;
  try {
    if (only.has('bare')) targets.push(await startTarget('bare Express JSON (ceiling)', bareMain, {}));
    if (only.has('sqlite')) {
      targets.push(
        await startTarget('OpenExec /execute, SQLite (WAL, synchronous=FULL)', apiMain, {
          OPENEXEC_DB_URL: `sqlite:///${join(dir, `bench-${Date.now()}.db`)}`,
        }),
      );
    }
    if (only.has('clawshield')) {
      targets.push(
        await startTarget('OpenExec /execute, SQLite, clawshield mode (v1 approval per request)', apiMain, {
          OPENEXEC_DB_URL: `sqlite:///${join(dir, `bench-clawshield-${Date.now()}.db`)}`,
          ...CLAWSHIELD_ENV,
        }),
      );
    }
    if (only.has('postgresql')) {
      if (!pgUrl) {
        console.warn('PostgreSQL skipped: set OPENEXEC_BENCH_PG_URL or OPENEXEC_TEST_PG_URL');
      } else {
        pgDatabase = `openexec_bench_${Date.now()}`;
        await adminQuery(`CREATE DATABASE ${pgDatabase}`);
        const url = new URL(pgUrl);
        url.pathname = `/${pgDatabase}`;
        targets.push(
          await startTarget('OpenExec /execute, PostgreSQL', apiMain, { OPENEXEC_DB_URL: url.toString() }),
        );
      }
    }
    // Warm-up (JIT, page cache), one turn each; also proves every server is healthy.
    for (const target of targets) await driveExecute(target.url, target.load);
    for (let turn = 0; turn < turns; turn++) {
      const order = turn % 2 === 0 ? targets : [...targets].reverse();
      for (const target of order) await measureTurn(target);
    }
  } finally {
    await Promise.all(targets.map((target) => stopServer(target.child)));
    if (pgDatabase) await adminQuery(`DROP DATABASE IF EXISTS ${pgDatabase} WITH (FORCE)`);
  }
  const rows = targets.map(summarise);
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
      `\n/execute benchmark${runs > 1 ? `, run ${run} of ${runs}` : ''}: ${connections} connections${rate ? `, offered ${rate} req/s` : ''}, unique nonces, each target ${duration} s in ${turns} turns of ${turnSeconds} s (ABBA order) after a ${turnSeconds} s warm-up, ${cpus().length} CPUs, Node ${process.version}\n`,
    );
    console.log(
      "| target | req/s | p50 ms | p99 ms (worst turn's) | errors | % of ceiling | server CPU µs/request | main thread µs/request |",
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const row of rows) {
      console.log(
        `| ${row.name} | ${Math.round(row.rps)} | ${row.p50} | ${row.p99} (${row.p99Worst}) | ${row.errors} | ${percent(row.share)} | ${us(row.cpuUs)} | ${us(row.mainUs)} |`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (runs > 1) {
  console.log(`\nOver ${runs} runs (each share against the ceiling measured in its own run):\n`);
  console.log(
    '| target | median req/s | median % of ceiling | % of ceiling, min – max | p99 ms, median run (min – max) | errors |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [index, first] of results[0].entries()) {
    const rows = results.map((run) => run[index]);
    const shares = rows.map((row) => row.share).filter((share) => share !== null);
    console.log(
      `| ${first.name} | ${Math.round(median(rows.map((row) => row.rps)))} | ${shares.length ? percent(median(shares)) : 'n/a'} | ${shares.length ? `${percent(Math.min(...shares))} – ${percent(Math.max(...shares))}` : 'n/a'} | ${round(median(rows.map((row) => row.p99)))} (${Math.min(...rows.map((row) => row.p99))} – ${Math.max(...rows.map((row) => row.p99))}) | ${rows.reduce((sum, row) => sum + row.errors, 0)} |`,
    );
  }
}
