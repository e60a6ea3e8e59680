#!/usr/bin/env node
// Two builds of OpenExec side by side: both servers (SQLite, demo mode) are driven at the same
// fixed rate in the same seconds, and their CPU per request compared round by round.
//   node bench/compare.mjs --a <checkout> --b <checkout> [--rate 700] [--rounds 5] [--duration 5]
// Each checkout must be built (`npx -y pnpm@10.34.9 build`). On this shared VM the speed of the
// machine drifts by ±15% from one run to the next, which hides a 5% change in sequential runs;
// measured in the same window, both sides see the same machine. Run it once with the same
// checkout as A and B first: the ratio it prints then is the tool's own noise (a few %).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { BENCH_ENV, cpuSeconds, driveExecute, median, perRequest, startServer, stopServer } from './lib.mjs';

const { values } = parseArgs({
  options: {
    a: { type: 'string' },
    b: { type: 'string' },
    rate: { type: 'string', default: '700' },
    rounds: { type: 'string', default: '5' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '16' },
  },
});
if (!values.a || !values.b) {
  console.error('usage: node bench/compare.mjs --a <checkout> --b <checkout> [--rate 700] [--rounds 5]');
  process.exit(2);
}
const load = {
  connections: Number(values.connections),
  duration: Number(values.duration),
  rate: Number(values.rate),
};
const dir = mkdtempSync(join(tmpdir(), 'openexec-compare-'));

function serve(side, checkout) {
  return startServer(resolve(checkout, 'apps/openexec-api/dist/main.js'), {
    ...BENCH_ENV,
    OPENEXEC_DB_URL: `sqlite:///${join(dir, `${side}.db`)}`,
  });
}

/** Process and main-thread CPU per request of one side over one round. */
function usage(before, after, requests) {
  return {
    total: perRequest(before.total, after.total, requests),
    main: perRequest(before.main, after.main, requests),
  };
}
const readCpu = (child) => ({ total: cpuSeconds(child.pid), main: cpuSeconds(child.pid, child.pid) });
const micros = (value) => (value === null ? 'n/a' : Math.round(value));

const servers = { a: await serve('a', values.a), b: await serve('b', values.b) };
try {
  await Promise.all([driveExecute(servers.a.url, load), driveExecute(servers.b.url, load)]); // warm-up
  console.log(`A = ${values.a}\nB = ${values.b}\n${load.rate} req/s each, ${load.connections} connections\n`);
  console.log(
    '| round | A µs/request (main thread) | B µs/request (main thread) | B/A main | B/A total | A p99 ms | B p99 ms | errors |',
  );
  console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const ratios = { main: [], total: [] };
  for (let round = 1; round <= Number(values.rounds); round++) {
    const before = { a: readCpu(servers.a.child), b: readCpu(servers.b.child) };
    const [ra, rb] = await Promise.all([
      driveExecute(servers.a.url, load),
      driveExecute(servers.b.url, load),
    ]);
    const a = usage(before.a, readCpu(servers.a.child), ra.requests.total);
    const b = usage(before.b, readCpu(servers.b.child), rb.requests.total);
    const errors = [ra, rb].reduce((sum, r) => sum + r.errors + r.timeouts + (r.non2xx ?? 0), 0);
    ratios.main.push(b.main / a.main);
    ratios.total.push(b.total / a.total);
    console.log(
      `| ${round} | ${micros(a.total)} (${micros(a.main)}) | ${micros(b.total)} (${micros(b.main)}) | ` +
        `${(b.main / a.main).toFixed(3)} | ${(b.total / a.total).toFixed(3)} | ${ra.latency.p99} | ${rb.latency.p99} | ${errors} |`,
    );
  }
  console.log(
    `\nmedian B/A: main thread ${median(ratios.main).toFixed(3)}, whole process ${median(ratios.total).toFixed(3)}`,
  );
} finally {
  await Promise.all([stopServer(servers.a.child), stopServer(servers.b.child)]);
  rmSync(dir, { recursive: true, force: true });
}
