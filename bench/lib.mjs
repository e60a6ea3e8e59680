// What bench/execute.mjs and bench/compare.mjs share: starting a server, driving /execute with
// autocannon, reading CPU time from /proc.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

import autocannon from 'autocannon';

// The benchmark is one client address at thousands of requests per second: the per-address
// rate limit (an abuse control) is switched off for it, explicitly.
export const BENCH_ENV = { OPENEXEC_RATE_LIMIT_PER_IP: '0' };

/** Starts `node [nodeArgs] script` on a free port; resolves once it has printed its URL. */
export function startServer(script, env, nodeArgs = []) {
  const child = spawn(process.execPath, [...nodeArgs, script], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk) => {
      out += chunk;
      const match = out.match(/"url":"(http:\/\/[^"]+)"/);
      if (!match) return;
      // From here on the server's output (a log line per request) is drained and dropped: the
      // load generator shares this process and must not pay for keeping or scanning it.
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      out = '';
      resolve({ child, url: match[1] });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${script} exited ${code}: ${out}`)));
  });
}

export async function stopServer(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/**
 * CPU seconds (user + system) a process, or with `task` one of its threads, has used so far,
 * from /proc (Linux); null elsewhere. The main thread's task id is the process id.
 */
export function cpuSeconds(pid, task = null) {
  try {
    const path = task === null ? `/proc/${pid}/stat` : `/proc/${pid}/task/${task}/stat`;
    const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Microseconds of CPU per request between two cpuSeconds readings, or null. */
export function perRequest(before, after, requests) {
  return before === null || after === null ? null : ((after - before) * 1e6) / Math.max(1, requests);
}

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** The nearest-rank percentile `p` (0 – 100) of a list of numbers. */
export function percentile(values, p) {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The payload of every benchmark request (its keys already in RFC 8785 order). */
export const PAYLOAD = { msg: 'hello', n: 42 };

/** A demo-mode /execute body with a fresh nonce; `extra(nonce)` adds fields (an approval). */
export function executeBody(extra = () => ({})) {
  const nonce = randomUUID();
  return JSON.stringify({ action: 'echo', payload: PAYLOAD, nonce, ...extra(nonce) });
}

/**
 * POSTs /execute over `connections` keep-alive connections for `duration` seconds, each request
 * with a fresh body; with `rate`, at a fixed `rate` requests/s in all instead of as fast as the
 * server answers. Resolves with autocannon's result plus `latencies`: the latency in ms of every
 * request sent `settleMs` or more after the start (the first ones queue behind the opening of
 * every connection at once), so that percentiles over several turns are exact rather than a
 * median of percentiles.
 */
export function driveExecute(url, { connections, duration, rate, settleMs = 0, body = () => executeBody() }) {
  const latencies = [];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url,
        connections,
        duration,
        ...(rate ? { overallRate: rate } : {}),
        requests: [
          {
            method: 'POST',
            path: '/execute',
            headers: { 'content-type': 'application/json' },
            setupRequest: (request) => ({ ...request, body: body() }),
          },
        ],
      },
      (error, result) => (error ? reject(error) : resolve({ ...result, latencies })),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      if (performance.now() - responseTime - started >= settleMs) latencies.push(responseTime);
    });
    autocannon.track(instance, {
      renderProgressBar: false,
      renderResultsTable: false,
      renderLatencyTable: false,
    });
  });
}
