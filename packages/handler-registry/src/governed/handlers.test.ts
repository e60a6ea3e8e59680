import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Handler, HandlerContext } from '../define.js';
import { createRegistry } from '../registry.js';
import { runHandler } from '../run.js';
import { parseGovernedConfig } from './config.js';
import {
  BinaryChangedError,
  GovernedConfigError,
  GovernedInputError,
  SandboxUnavailableError,
} from './errors.js';
import {
  describeRun,
  type GovernedOutput,
  type LoadGovernedOptions,
  loadGovernedHandlers,
  validateGovernedInput,
} from './handlers.js';
import { probeSandbox } from './sandbox.js';

const sandbox = await probeSandbox();
if (!sandbox.available) {
  // .ci/run installs bubblewrap: in CI a sandbox that cannot start fails, never skips.
  if (process.env.CI) throw new Error(`bubblewrap sandbox unavailable in CI: ${sandbox.reason}`);
  console.warn(`skipping bubblewrap cases of the governed handler tests: ${sandbox.reason}`);
}

const BASH = realpathSync('/bin/bash');
// Without a user namespace (isolation none) RLIMIT_NPROC counts every process and thread of
// the user: when the tests do not run as root, that includes the test runner itself.
const UNCOUNTED = '{ maxProcesses: 4096 }';
const context = (): HandlerContext => ({
  signal: new AbortController().signal,
  executionId: 'e-1',
  tenant: 't',
  nonce: 'n',
});

// Everything the sandbox user (nobody, when the tests run as root) must reach is world-readable.
const dir = mkdtempSync(path.join(os.tmpdir(), 'openexec-handlers-'));
chmodSync(dir, 0o777);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function load(yaml: string, options: LoadGovernedOptions = {}): Promise<Record<string, Handler>> {
  const handlers = await loadGovernedHandlers(parseGovernedConfig(yaml, 'yaml'), {
    probe: false,
    ...options,
  });
  return Object.fromEntries(handlers.map((handler) => [handler.name, handler]));
}

async function run(handler: Handler, input: unknown): Promise<GovernedOutput> {
  return (await handler.run(handler.input.parse(input), context())) as GovernedOutput;
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('describeRun', () => {
  const run: GovernedOutput = {
    exitCode: 0,
    signal: null,
    stdout: '3\n',
    stderr: '',
    stdoutTruncated: false,
    stderrTruncated: false,
    durationMs: 12.5,
    maxRssKiB: 2048,
    cpuMs: 3,
    timedOut: false,
    isolation: 'bwrap',
    binarySha256: 'a'.repeat(64),
  };

  it("describes a governed run's result for its receipt", () => {
    expect(describeRun(run)).toEqual({
      isolation: 'bwrap',
      run: { exit_code: 0, signal: null, duration_ms: 12.5, max_rss_kib: 2048, cpu_ms: 3 },
    });
  });

  it('describes nothing of other results, including look-alikes that are not a governed output', () => {
    for (const result of [
      null,
      42,
      'isolation',
      [],
      { echo: { msg: 'hi' } },
      { ...run, isolation: 'docker' },
      { ...run, extra: 1 },
    ]) {
      expect(describeRun(result)).toBeNull();
    }
  });
});

describe('loadGovernedHandlers', () => {
  describe('at start-up', () => {
    it('pins the SHA-256 of each executable in the handler version and result', async () => {
      const { wc } = await load(
        `actions:\n  - kind: process\n    name: wc\n    executable: /usr/bin/wc\n    isolation: none\n    limits: ${UNCOUNTED}\n    argv: { maxPositional: 0, allowedFlags: ['-l'] }\n`,
      );
      const digest = sha256('/usr/bin/wc');
      expect(wc?.version).toBe(`1.0.0+sha256.${digest.slice(0, 12)}`);
      const result = await run(wc!, { args: ['-l'], stdin: 'a\nb\nc\n' });
      expect(result).toMatchObject({ exitCode: 0, stdout: '3\n', isolation: 'none', binarySha256: digest });
    });

    it('rejects a pinned digest that does not match, naming the action', async () => {
      const error = await rejection(
        load(
          `actions:\n  - kind: process\n    name: wc\n    executable: /usr/bin/wc\n    sha256: '${'0'.repeat(64)}'\n    argv: { maxPositional: 0 }\n`,
        ),
      );
      expect(error).toBeInstanceOf(GovernedConfigError);
      expect(error).toMatchObject({ code: 'ERR_GOVERNED_DIGEST_MISMATCH' });
      expect((error as Error).message).toContain('action wc');
    });

    it.each([
      ['/usr/bin/does-not-exist', 'does not exist'],
      ['/usr/bin', 'not a regular file'],
    ])('rejects executable %s (%s)', async (executable, reason) => {
      const error = await rejection(
        load(
          `actions:\n  - kind: process\n    name: x\n    executable: ${executable}\n    argv: { maxPositional: 0 }\n`,
        ),
      );
      expect(error).toMatchObject({ code: 'ERR_GOVERNED_EXECUTABLE_INVALID' });
      expect((error as Error).message).toContain(reason);
    });

    it('rejects a symlinked interpreter and names the real path', async () => {
      const link = path.join(dir, 'python-link');
      symlinkSync(realpathSync('/usr/bin/python3'), link);
      const error = await rejection(
        load(`actions:\n  - kind: code\n    name: py\n    language: python\n    interpreter: ${link}\n`),
      );
      expect(error).toMatchObject({ code: 'ERR_GOVERNED_EXECUTABLE_INVALID' });
      expect((error as Error).message).toContain(realpathSync('/usr/bin/python3'));
    });

    it('stops start-up when an interpreter cannot run under its limits (node under 256 MiB)', async () => {
      const error = await rejection(
        load(
          `actions:\n  - kind: code\n    name: js\n    language: node\n    interpreter: ${process.execPath}\n    isolation: none\n    limits: { memoryBytes: 268435456, maxProcesses: 4096 }\n`,
          { probe: true },
        ),
      );
      expect(error).toMatchObject({ code: 'ERR_GOVERNED_PROBE_FAILED' });
      expect((error as Error).message).toContain('action js');
      expect((error as Error).message).toContain('virtual memory');
    });
  });

  describe('when the request breaks the argv profile', () => {
    let tool: Handler;
    const marker = path.join(dir, 'marker.log');

    beforeAll(async () => {
      // A tool whose every run is visible on the host: isolation none, appends to a file.
      const script = path.join(dir, 'tool.sh');
      writeFileSync(script, `#!${BASH}\necho "ran $*" >> ${marker}\n`, { mode: 0o755 });
      writeFileSync(marker, '', { mode: 0o666 });
      chmodSync(marker, 0o666);
      ({ tool } = (await load(`actions:
  - kind: process
    name: tool
    executable: ${script}
    isolation: none
    limits: ${UNCOUNTED}
    argv: { maxPositional: 1, allowedFlags: ['-v'], allowedValueFlags: ['--lines'], deniedFlags: ['--exec'] }
    env: { allow: [GREETING] }
`)) as { tool: Handler });
    });

    const runs = () => readFileSync(marker, 'utf8').split('\n').filter(Boolean);

    it('runs a request inside the profile (control)', async () => {
      const result = await run(tool, { args: ['-v', '--lines=3', 'file'] });
      expect(result.exitCode).toBe(0);
      expect(runs()).toEqual(['ran -v --lines=3 file']);
    });

    it.each([
      [{ args: ['--exec', 'x'] }, 'ERR_ARGV_DENIED_FLAG'],
      [{ args: ['--exec=rm'] }, 'ERR_ARGV_DENIED_FLAG'],
      [{ args: ['--execute'] }, 'ERR_ARGV_UNKNOWN_FLAG'],
      [{ args: ['a', 'b'] }, 'ERR_ARGV_TOO_MANY_POSITIONALS'],
      [{ args: [], env: { PATH: '/tmp/evil' } }, 'ERR_ENV_FORBIDDEN'],
      [{ args: [], env: { LD_PRELOAD: '/tmp/evil.so' } }, 'ERR_ENV_FORBIDDEN'],
      [{ args: [], env: { OTHER: 'x' } }, 'ERR_ENV_FORBIDDEN'],
      [{ args: [], cwd: 'sub' }, 'ERR_CWD_NOT_ALLOWED'],
    ])('refuses %j with %s before anything runs', async (input, code) => {
      const before = runs().length;
      // 1. The input schema the API applies before reserving the nonce.
      const parsed = tool.input.safeParse(input);
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.message).toMatch(new RegExp(`^${code}: `));
      const validation = validateGovernedInput(tool, input);
      expect(validation.success ? null : validation.error.code).toBe(code);
      // 2. run itself, reached without the schema.
      const error = await rejection(Promise.resolve(tool.run(input, context())));
      expect(error).toBeInstanceOf(GovernedInputError);
      expect(error).toMatchObject({ code });
      // 3. runHandler keeps only the class name.
      const outcome = await runHandler(tool, input, context(), { maxResultBytes: 1 << 20 });
      expect(outcome).toMatchObject({
        status: 'failed',
        code: 'handler_error',
        message: 'handler threw GovernedInputError',
      });
      expect(runs().length).toBe(before);
    });

    it('passes allowed env and a fresh PATH, and nothing of the service environment', async () => {
      const { env } = await load(`actions:
  - kind: process
    name: env
    executable: /usr/bin/env
    isolation: none
    limits: ${UNCOUNTED}
    argv: { maxPositional: 0 }
    env: { allow: [GREETING] }
`);
      process.env.OPENEXEC_TEST_SECRET = 'leak';
      const result = await run(env!, { env: { GREETING: 'hi' } });
      delete process.env.OPENEXEC_TEST_SECRET;
      expect(result.stdout.split('\n').filter(Boolean).sort()).toEqual([
        'GREETING=hi',
        'HOME=/tmp',
        'LANG=C.UTF-8',
        'PATH=/usr/bin:/bin',
      ]);
    });

    it('rejects input fields outside the schema', () => {
      expect(validateGovernedInput(tool, { args: [], shell: true })).toMatchObject({
        success: false,
        error: { code: 'ERR_INPUT_INVALID' },
      });
      expect(validateGovernedInput(tool, { args: ['a\0b'] })).toMatchObject({
        success: false,
        error: { code: 'ERR_INPUT_INVALID' },
      });
    });
  });

  describe('when the pinned binary is swapped after start-up', () => {
    it('refuses to run it (BinaryChangedError) and nothing runs', async () => {
      const binary = path.join(dir, 'tool-bin');
      copyFileSync('/usr/bin/true', binary);
      chmodSync(binary, 0o755);
      const isolation = sandbox.available ? 'bwrap' : 'none';
      const { tool } = await load(
        `actions:\n  - kind: process\n    name: tool\n    executable: ${binary}\n    isolation: ${isolation}\n    limits: ${UNCOUNTED}\n    argv: { maxPositional: 0 }\n`,
      );
      expect(await run(tool!, {})).toMatchObject({ exitCode: 0, isolation });

      writeFileSync(binary, readFileSync('/usr/bin/false'));
      const error = await rejection(run(tool!, {}));
      expect(error).toBeInstanceOf(BinaryChangedError);
      expect(error).toMatchObject({ name: 'BinaryChangedError', code: 'binary_changed' });
      // Had it run, /usr/bin/false would have produced a result with exitCode 1.
      const outcome = await runHandler(tool!, {}, context(), { maxResultBytes: 1 << 20 });
      expect(outcome).toMatchObject({ status: 'failed', code: 'binary_changed' });
    });
  });

  describe('when bubblewrap is unavailable', () => {
    it('still loads, refuses bwrap actions (fail closed) and runs isolation none actions', async () => {
      const warnings: string[] = [];
      const handlers = await load(
        `actions:
  - kind: process
    name: boxed
    executable: /usr/bin/true
    argv: { maxPositional: 0 }
  - kind: process
    name: open
    executable: /usr/bin/true
    isolation: none
    limits: ${UNCOUNTED}
    argv: { maxPositional: 0 }
`,
        {
          probe: true,
          tools: { bwrap: '/nonexistent/bwrap' },
          onWarning: (message) => warnings.push(message),
        },
      );
      expect(warnings.join('\n')).toContain('these actions will refuse to run: boxed');
      const error = await rejection(run(handlers.boxed!, {}));
      expect(error).toBeInstanceOf(SandboxUnavailableError);
      expect(error).toMatchObject({ code: 'sandbox_unavailable' });
      expect(await run(handlers.open!, {})).toMatchObject({ exitCode: 0, isolation: 'none' });
    });
  });

  describe('isolation none', () => {
    it('runs without bwrap, says so, and still applies rlimits', async () => {
      const secret = path.join(dir, 'host-visible.txt');
      writeFileSync(secret, 'host file', { mode: 0o644 });
      const { sh } = await load(`actions:
  - kind: code
    name: sh
    language: bash
    interpreter: ${BASH}
    isolation: none
    limits: { maxProcesses: 4077, maxOpenFiles: 99 }
`);
      const result = await run(sh!, { code: `cat ${secret}; echo; ulimit -u; ulimit -n` });
      expect(result).toMatchObject({ isolation: 'none', exitCode: 0, stdout: 'host file\n4077\n99\n' });
    });
  });

  describe.skipIf(!sandbox.available)('a process action with a cwd root', () => {
    let ls: Handler;
    let rw: Handler;
    let root: string;

    beforeAll(async () => {
      root = path.join(dir, 'root');
      mkdirSync(path.join(root, 'data'), { recursive: true, mode: 0o777 });
      chmodSync(path.join(root, 'data'), 0o777);
      writeFileSync(path.join(root, 'data', 'input.txt'), 'one\ntwo\n', { mode: 0o644 });
      symlinkSync('/etc', path.join(root, 'escape'));
      const handlers = await load(`actions:
  - kind: process
    name: ls
    executable: /usr/bin/ls
    argv: { maxPositional: 1 }
    cwd: { root: ${root} }
  - kind: process
    name: touch
    executable: /usr/bin/touch
    argv: { minPositional: 1, maxPositional: 1 }
    cwd: { root: ${root}, writable: true }
`);
      ls = handlers.ls!;
      rw = handlers.touch!;
    });

    it('binds the chosen subdirectory at /work', async () => {
      expect(await run(ls, { cwd: 'data' })).toMatchObject({ exitCode: 0, stdout: 'input.txt\n' });
      expect(await run(ls, { cwd: 'data', args: ['/work/input.txt'] })).toMatchObject({ exitCode: 0 });
    });

    it('refuses a cwd that leaves the root, through .. or a symlink', () => {
      expect(validateGovernedInput(ls, { cwd: '..' })).toMatchObject({
        error: { code: 'ERR_CWD_OUTSIDE_ROOT' },
      });
      expect(validateGovernedInput(ls, { cwd: 'escape' })).toMatchObject({
        error: { code: 'ERR_CWD_OUTSIDE_ROOT' },
      });
    });

    it('binds it read-only unless the operator made it writable', async () => {
      const refused = await run(ls, { cwd: 'data', args: ['/work'] });
      expect(refused.exitCode).toBe(0);
      const written = await run(rw, { cwd: 'data', args: ['/work/new.txt'] });
      expect(written.exitCode).toBe(0);
      expect(readFileSync(path.join(root, 'data', 'new.txt'), 'utf8')).toBe('');
      const { touchro } = await load(`actions:
  - kind: process
    name: touchro
    executable: /usr/bin/touch
    argv: { minPositional: 1, maxPositional: 1 }
    cwd: { root: ${root} }
`);
      const readOnly = await run(touchro!, { cwd: 'data', args: ['/work/other.txt'] });
      expect(readOnly.exitCode).not.toBe(0);
      expect(readOnly.stderr).toContain('Read-only file system');
    });
  });

  describe('in the registry', () => {
    it('registers, describes and runs through runHandler like any handler', async () => {
      const handlers = await loadGovernedHandlers(
        parseGovernedConfig(
          `actions:\n  - kind: code\n    name: py\n    language: python\n    interpreter: ${realpathSync('/usr/bin/python3')}\n    isolation: none\n    limits: ${UNCOUNTED}\n`,
          'yaml',
        ),
        { probe: false },
      );
      const registry = createRegistry(handlers);
      const [description] = registry.describe();
      expect(description).toMatchObject({ name: 'py', sideEffects: true, timeoutMs: 35_000 });
      expect(JSON.stringify(description?.inputSchema)).toContain('"code"');
      const outcome = await runHandler(registry.get('py')!, { code: 'print(6 * 7)' }, context(), {
        maxResultBytes: 1 << 20,
      });
      expect(outcome).toMatchObject({ status: 'succeeded', result: { stdout: '42\n', exitCode: 0 } });
    });
  });
});
