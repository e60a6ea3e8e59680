/**
 * Per-run overhead of the governed sandbox on this machine: `bash -c true` spawned directly,
 * under the rlimit/rusage wrappers only (isolation none), under bubblewrap, and as a whole
 * governed handler run (digest re-check, run directory, sandbox, cleanup).
 *
 *   pnpm --filter @openexec/handler-registry bench [runs]
 */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import os from 'node:os';
import type { HandlerContext } from '../define.js';
import { DEFAULT_LIMITS, parseGovernedConfig } from './config.js';
import { loadGovernedHandlers } from './handlers.js';
import {
  createRunDirectory,
  DEFAULT_SANDBOX_TOOLS,
  defaultRunAs,
  type Isolation,
  probeSandbox,
  runSandboxed,
} from './sandbox.js';

const RUNS = Number(process.argv[2] ?? 50);
const BASH = realpathSync('/bin/bash');

function direct(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(BASH, ['-c', 'true'], {
      shell: false,
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin' },
    });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
  });
}

async function sandboxed(isolation: Isolation): Promise<void> {
  const runAs = defaultRunAs();
  const dir = await createRunDirectory(os.tmpdir(), runAs);
  try {
    const result = await runSandboxed({
      tools: DEFAULT_SANDBOX_TOOLS,
      isolation,
      executable: BASH,
      args: ['-c', 'true'],
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: '/tmp' },
      limits: DEFAULT_LIMITS,
      timeoutMs: 10_000,
      workDir: dir.work,
      workDirWritable: true,
      readOnlyPaths: [],
      rusageFile: dir.rusageFile,
      runAs,
    });
    if (result.exitCode !== 0) throw new Error(`exit ${result.exitCode}: ${result.stderr}`);
  } finally {
    await dir.remove();
  }
}

async function measure(label: string, once: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < 3; i++) await once(); // warm-up
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    await once();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const mean = samples.reduce((sum, value) => sum + value, 0) / samples.length;
  const at = (q: number) =>
    samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? Number.NaN;
  console.log(
    `${label.padEnd(44)} mean ${mean.toFixed(2).padStart(7)} ms   p50 ${at(0.5).toFixed(2).padStart(7)} ms   p95 ${at(0.95).toFixed(2).padStart(7)} ms`,
  );
  return samples;
}

const median = (samples: number[]) => samples[Math.floor(samples.length / 2)] ?? Number.NaN;

console.log(
  `governed sandbox overhead, ${RUNS} runs each of bash -c true (${os.cpus().length} CPUs, node ${process.version})`,
);
const base = await measure('direct spawn', direct);
const wrapped = await measure('time + prlimit (isolation: none)', () => sandboxed('none'));
const probe = await probeSandbox();
if (!probe.available) {
  console.log(`bubblewrap unavailable (${probe.reason}): no sandboxed numbers`);
} else {
  const boxed = await measure('time + bwrap + prlimit (isolation: bwrap)', () => sandboxed('bwrap'));
  const [handler] = await loadGovernedHandlers(
    parseGovernedConfig(
      `actions:\n  - kind: code\n    name: sh\n    language: bash\n    interpreter: ${BASH}\n`,
      'yaml',
    ),
    { probe: false },
  );
  const context: HandlerContext = {
    signal: new AbortController().signal,
    executionId: 'bench',
    tenant: 'bench',
    nonce: 'bench',
  };
  const full = await measure('governed code handler run (bwrap)', async () => {
    await handler!.run({ code: 'true', args: [] }, context);
  });
  console.log(
    `overhead at p50: wrappers +${(median(wrapped) - median(base)).toFixed(2)} ms, bwrap +${(median(boxed) - median(base)).toFixed(2)} ms, whole handler +${(median(full) - median(base)).toFixed(2)} ms`,
  );
}
