import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Handler, HandlerContext } from '../define.js';
import { DEFAULT_LIMITS, parseGovernedConfig } from './config.js';
import { type GovernedOutput, loadGovernedHandlers } from './handlers.js';
import { createRunDirectory, DEFAULT_SANDBOX_TOOLS, probeSandbox, runSandboxed } from './sandbox.js';

/*
 * Escape attempts against the real bubblewrap sandbox. Each test runs code an attacker
 * controls and asserts the containment, not just a non-zero exit.
 */

const probe = await probeSandbox();
if (!probe.available) {
  // .ci/run installs bubblewrap: in CI a sandbox that cannot start fails the suite, never skips it.
  if (process.env.CI) throw new Error(`bubblewrap sandbox unavailable in CI: ${probe.reason}`);
  console.warn(`skipping the bubblewrap escape suite: sandbox unavailable (${probe.reason})`);
}

const PYTHON = realpathSync('/usr/bin/python3');
const BASH = realpathSync('/bin/bash');
const isRoot = process.getuid?.() === 0;
// A uid no other test uses, so "no process of this uid is left" is a precise check.
const RUN_AS = isRoot ? 'runAs: { uid: 64123, gid: 64123 }\n' : '';

const context = (signal = new AbortController().signal): HandlerContext => ({
  signal,
  executionId: 'e-1',
  tenant: 't',
  nonce: 'n',
});

async function run(handler: Handler, input: unknown, signal?: AbortSignal): Promise<GovernedOutput> {
  return (await handler.run(handler.input.parse(input), context(signal))) as GovernedOutput;
}

function leftoverProcesses(pattern: string): string {
  const result = spawnSync('/usr/bin/pgrep', ['-a', '-f', pattern], { encoding: 'utf8' });
  return result.stdout.trim();
}

/** Polls until `probe` returns '' (a dying pid namespace takes a moment to be reaped). */
async function settled(probe: () => string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = probe();
  while (last !== '' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = probe();
  }
  return last;
}

function uidProcesses(): string {
  if (!isRoot) return '';
  return spawnSync('/usr/bin/pgrep', ['-a', '-u', '64123'], { encoding: 'utf8' }).stdout.trim();
}

describe.skipIf(!probe.available)('governed sandbox (bubblewrap)', () => {
  let handlers: Record<string, Handler>;
  let secretDir: string;
  const secret = `TOP-SECRET-${randomBytes(8).toString('hex')}`;

  beforeAll(async () => {
    secretDir = mkdtempSync(path.join(os.tmpdir(), 'openexec-secret-'));
    writeFileSync(path.join(secretDir, 'signing-key.pem'), secret, { mode: 0o644 });
    spawnSync('/usr/bin/chmod', ['755', secretDir]);
    const config = parseGovernedConfig(
      `${RUN_AS}actions:
  - kind: code
    name: py
    language: python
    interpreter: ${PYTHON}
    timeoutMs: 10000
  - kind: code
    name: sh
    language: bash
    interpreter: ${BASH}
    timeoutMs: 1500
    limits: { maxProcesses: 32, cpuSeconds: 5 }
  - kind: code
    name: sh-none
    language: bash
    interpreter: ${BASH}
    timeoutMs: 1500
    isolation: none
    limits: { maxProcesses: 4096 }
  - kind: code
    name: py-data
    language: python
    interpreter: ${PYTHON}
    readOnlyPaths: [${secretDir}]
  - kind: code
    name: py-files
    language: python
    interpreter: ${PYTHON}
    outputFiles: { extensions: ['.csv', '.txt'], maxFileBytes: 1024, maxTotalBytes: 2048 }
`,
      'yaml',
    );
    handlers = Object.fromEntries((await loadGovernedHandlers(config)).map((h) => [h.name, h]));
  });

  afterAll(() => rmSync(secretDir, { recursive: true, force: true }));

  it('runs a python snippet inside the sandbox and says so', async () => {
    const result = await run(handlers.py!, { code: 'import os; print(os.getcwd(), os.getpid())' });
    expect(result).toMatchObject({ exitCode: 0, isolation: 'bwrap', timedOut: false, stdout: '/work 1\n' });
    expect(result.maxRssKiB).toBeGreaterThan(1000);
    expect(result.cpuMs).not.toBeNull();
  });

  it('reports resource use the code cannot forge through the descriptor GNU time leaves it', async () => {
    const result = await run(handlers.sh!, {
      code: `
for fd in /proc/self/fd/*; do
  n=\${fd##*/}
  case "$(readlink "$fd")" in
    *rusage*) printf 'openexec-rusage 999999 99.00 99.00\\nopenexec-rusage-0 999999 99.00 99.00\\n' >&"$n"; echo FORGED;;
  esac
done
`,
    });
    expect(result.stdout).toContain('FORGED');
    expect(result.maxRssKiB).toBeGreaterThan(0);
    expect(result.maxRssKiB).not.toBe(999999);
    expect(result.cpuMs).toBeLessThan(99_000);
  });

  describe('network', () => {
    it('cannot reach a TCP server on the host loopback, nor any other address', async () => {
      let connections = 0;
      const server = net.createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as net.AddressInfo;
      try {
        const result = await run(handlers.py!, {
          code: `
import socket
for host, port in (('127.0.0.1', ${port}), ('1.1.1.1', 53), ('10.0.2.2', 80)):
    try:
        socket.create_connection((host, port), timeout=2).close()
        print('CONNECTED', host)
    except OSError as error:
        print('BLOCKED', host, type(error).__name__)
`,
        });
        expect(result.stdout).not.toContain('CONNECTED');
        expect(result.stdout.match(/BLOCKED/g)).toHaveLength(3);
        expect(connections).toBe(0);
      } finally {
        server.close();
      }
    });
  });

  describe('filesystem', () => {
    it('cannot write outside the work dir; its /tmp is private', async () => {
      const marker = `openexec-escape-${randomBytes(6).toString('hex')}`;
      const result = await run(handlers.sh!, {
        code: `
for p in /usr/${marker} /etc/${marker} /${marker} /dev/${marker} /proc/${marker}; do
  if echo pwned > "$p" 2>/dev/null; then echo "WROTE $p"; fi
done
echo private > /tmp/${marker} && echo TMP-OK
echo mine > /work/${marker} && echo WORK-OK
`,
      });
      expect(result.stdout).not.toContain('WROTE');
      expect(result.stdout).toContain('TMP-OK');
      expect(result.stdout).toContain('WORK-OK');
      expect(existsSync(path.join('/tmp', marker))).toBe(false);
      expect(existsSync(path.join('/', marker))).toBe(false);
    });

    it('cannot read /etc/shadow or /etc/passwd', async () => {
      const result = await run(handlers.sh!, {
        code: 'cat /etc/shadow; echo "shadow=$?"; cat /etc/passwd; echo "passwd=$?"; ls /etc',
      });
      expect(result.stdout).toContain('shadow=1');
      expect(result.stdout).toContain('passwd=1');
      expect(result.stdout).not.toContain('root:');
      expect(result.stdout.split('\n').filter(Boolean).slice(2)).toEqual(['alternatives', 'ld.so.cache']);
    });

    it("cannot read a host directory standing for the database or signing key, nor the service's files", async () => {
      const repoFile = path.resolve('package.json');
      const result = await run(handlers.sh!, {
        code: `
cat ${secretDir}/signing-key.pem
cat ${repoFile}
ls /root /home /var 2>&1
grep -rs ${secret.slice(0, 10)} /tmp /work /etc /proc/1/environ 2>/dev/null
echo done
`,
      });
      expect(result.stdout + result.stderr).not.toContain(secret);
      expect(result.stdout).not.toContain('@openexec/handler-registry');
      expect(result.stdout).toContain('done');
      expect(result.stderr).toContain('No such file or directory');
    });

    it('shows readOnlyPaths read-only, and only to the action that lists them', async () => {
      const code = `
import pathlib
key = pathlib.Path('${secretDir}/signing-key.pem')
print(key.read_text())
try:
    (key.parent / 'planted').write_text('x')
    print('WROTE')
except OSError as error:
    print(type(error).__name__)
`;
      const listed = await run(handlers['py-data']!, { code });
      expect(listed.stdout).toBe(`${secret}\nOSError\n`);
      const other = await run(handlers.py!, { code });
      expect(other.stderr).toContain('FileNotFoundError');
    });

    it('never collects a symlink the code planted, nor the snippet itself', async () => {
      const result = await run(handlers['py-files']!, {
        code: `
import os
open('out.csv', 'w').write('a,b\\n1,2\\n')
open('big.txt', 'w').write('x' * 5000)
open('skip.bin', 'w').write('binary')
os.makedirs('sub', exist_ok=True)
open('sub/more.txt', 'w').write('more')
os.symlink('${secretDir}/signing-key.pem', 'link.txt')
os.symlink('/etc/ld.so.cache', 'cache.csv')
`,
      });
      expect(result.exitCode).toBe(0);
      expect(result.files?.map((file) => file.name)).toEqual(['big.txt', 'out.csv', 'sub/more.txt']);
      const [big, out] = result.files ?? [];
      expect(big).toMatchObject({ bytes: 5000 });
      expect(big?.base64).toBeUndefined();
      expect(Buffer.from(out?.base64 ?? '', 'base64').toString()).toBe('a,b\n1,2\n');
      expect(JSON.stringify(result)).not.toContain(Buffer.from(secret).toString('base64').slice(0, 12));
    });
  });

  describe('resources', () => {
    it('stops a fork bomb and leaves the host able to fork', async () => {
      // The script lives on (sleep 30) so the bomb grows until the limit and only the timeout
      // (1.5 s) can end it: timedOut says it did.
      const result = await run(handlers.sh!, {
        code: ':(){ :|:& };:\nsleep 30\n',
        args: ['forkbomb-marker'],
      });
      expect(result).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
      expect(result.stderr).toContain('Resource temporarily unavailable');
      expect(await settled(() => leftoverProcesses('forkbomb-marker'))).toBe('');
      expect(await settled(uidProcesses)).toBe('');
      expect(spawnSync('/usr/bin/true').status).toBe(0);
    });

    it('enforces maxProcesses inside the sandbox (RLIMIT_NPROC in its own user namespace)', async () => {
      const result = await run(handlers.sh!, {
        code: `
for i in $(seq 60); do
  sleep 5 2>/dev/null &
done
echo started
`,
      });
      // bash reports the refused forks; at most 32 processes (the limit) existed at once.
      expect(result.stderr).toContain('Resource temporarily unavailable');
      expect(await settled(uidProcesses)).toBe('');
    });

    it('kills a memory hog at the address-space limit', async () => {
      const result = await run(handlers.py!, { code: 'x = bytearray(1 << 30)\nprint("ALLOCATED")' });
      expect(result.exitCode).not.toBe(0);
      expect(result.stdout).not.toContain('ALLOCATED');
      expect(result.stderr).toContain('MemoryError');
    });

    it('kills an infinite loop and its children at the wall-clock timeout', async () => {
      const result = await run(handlers.sh!, { code: 'sleep 987654 &\nwhile :; do :; done\n' });
      expect(result).toMatchObject({ timedOut: true, signal: 'SIGKILL', exitCode: null, isolation: 'bwrap' });
      expect(await settled(() => leftoverProcesses('sleep 987654'))).toBe('');
    });

    it('kills the process group on timeout without bwrap too', async () => {
      const result = await run(handlers['sh-none']!, { code: 'sleep 987655 &\nwhile :; do :; done\n' });
      expect(result).toMatchObject({ timedOut: true, isolation: 'none' });
      expect(await settled(() => leftoverProcesses('sleep 987655'))).toBe('');
    });

    it('kills the run when the handler signal aborts', async () => {
      const controller = new AbortController();
      const running = run(
        handlers.py!,
        { code: 'import time\ntime.sleep(60)', args: ['abort-probe-5519'] },
        controller.signal,
      );
      // Abort once the snippet runs: under load the set-up before it can outlast any fixed
      // delay, and an abort before the start is a different case (nothing is spawned).
      const deadline = Date.now() + 20_000;
      while (leftoverProcesses('abort-probe-5519') === '' && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(leftoverProcesses('abort-probe-5519')).not.toBe('');
      controller.abort();
      // Killed, and not by the 10 s timeout: the abort ended it.
      expect(await running).toMatchObject({ timedOut: false, signal: 'SIGKILL' });
      expect(await settled(() => leftoverProcesses('abort-probe-5519'))).toBe('');
    });

    it('truncates 100 MiB of output at the cap, sets the flag and keeps draining to the end', async () => {
      const result = await run(handlers.py!, {
        code: `
import sys
chunk = b'x' * (1 << 20)
for _ in range(100):
    sys.stdout.buffer.write(chunk)
sys.stderr.write('é' * 10)
`,
      });
      // A reader that stopped at the cap would leave the writer blocked until the timeout.
      expect(result).toMatchObject({ exitCode: 0, timedOut: false });
      expect(result.stdout.length).toBe(1 << 20);
      expect(result.stdoutTruncated).toBe(true);
      expect(result.stderr).toBe('é'.repeat(10));
      expect(result.stderrTruncated).toBe(false);
    });
  });
});

describe.skipIf(!probe.available)('a work directory pinned by descriptor', () => {
  const held = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'openexec-held-')));
  const named = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'openexec-named-')));
  writeFileSync(path.join(held, 'checked.txt'), 'the directory that was checked');
  writeFileSync(path.join(named, 'swapped-in.txt'), 'what the path leads to now');
  afterAll(() => {
    rmSync(held, { recursive: true, force: true });
    rmSync(named, { recursive: true, force: true });
  });

  it('is what the sandbox mounts, whatever its path leads to, and the command holds no descriptor of it', async () => {
    const fd = openSync(held, constants.O_RDONLY | constants.O_DIRECTORY);
    const dir = await createRunDirectory(os.tmpdir(), null);
    try {
      const result = await runSandboxed({
        tools: DEFAULT_SANDBOX_TOOLS,
        isolation: 'bwrap',
        executable: BASH,
        args: ['-c', 'ls /work; for f in /proc/$$/fd/*; do readlink "$f"; done'],
        env: {},
        limits: DEFAULT_LIMITS,
        timeoutMs: 10_000,
        // The path a racer swapped in after the check; the descriptor is the checked directory.
        workDir: named,
        workDirFd: fd,
        workDirWritable: false,
        readOnlyPaths: [],
        rusageFile: dir.rusageFile,
        runAs: null,
      });
      expect(result.exitCode).toBe(0);
      const [listing, ...descriptors] = result.stdout.trim().split('\n');
      expect(listing).toBe('checked.txt');
      expect(descriptors.filter((target) => target.includes(held) || target.includes(named))).toEqual([]);
    } finally {
      closeSync(fd);
      await dir.remove();
    }
  });
});

describe.skipIf(!isRoot || !existsSync('/usr/bin/setpriv'))(
  'the run directory of a service that is not root',
  () => {
    it('is removed even when the run left a directory its owner cannot enter', () => {
      const tmp = mkdtempSync(path.join(os.tmpdir(), 'openexec-nonroot-'));
      spawnSync('/usr/bin/chown', ['65534:65534', tmp]);
      // The built module: this runs in a process of its own, as an unprivileged user.
      const sandboxModule = new URL('../../dist/governed/sandbox.js', import.meta.url).href;
      const script = `
      import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
      import { createRunDirectory } from ${JSON.stringify(sandboxModule)};
      const dir = await createRunDirectory(${JSON.stringify(tmp)}, null);
      mkdirSync(dir.work + '/locked/deeper', { recursive: true });
      writeFileSync(dir.work + '/locked/deeper/f', 'x');
      chmodSync(dir.work + '/locked/deeper', 0);
      chmodSync(dir.work + '/locked', 0);
      await dir.remove();
      console.log(existsSync(dir.root) ? 'left behind' : 'removed');`;
      try {
        const child = spawnSync(
          '/usr/bin/setpriv',
          [
            '--reuid=65534',
            '--regid=65534',
            '--clear-groups',
            process.execPath,
            '--input-type=module',
            '-e',
            script,
          ],
          { encoding: 'utf8' },
        );
        expect(child.stderr).toBe('');
        expect(child.stdout.trim()).toBe('removed');
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  },
);

describe('output caps', () => {
  const runBash = (script: string, stdoutBytes: number) =>
    runSandboxed({
      tools: DEFAULT_SANDBOX_TOOLS,
      isolation: 'none',
      executable: BASH,
      args: ['-c', script],
      env: { PATH: '/usr/bin:/bin' },
      limits: { ...DEFAULT_LIMITS, stdoutBytes },
      timeoutMs: 10_000,
      workDir: os.tmpdir(),
      workDirWritable: false,
      readOnlyPaths: [],
      rusageFile: null,
      runAs: null,
    });

  it('count the output as the result carries it, JSON-encoded: control characters take six bytes', async () => {
    const result = await runBash("head -c 100000 /dev/zero | tr '\\0' '\\1'", 65_536);
    expect(result.exitCode).toBe(0);
    expect(result.stdoutTruncated).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(result.stdout)) - 2).toBeLessThanOrEqual(65_536);
    expect(result.stdout).toBe('\u0001'.repeat(Math.floor(65_536 / 6)));
  });

  it('keep output that fits as it is', async () => {
    const result = await runBash(
      'printf "caf\\xc3\\xa9 %s" "$(head -c 1000 /dev/zero | tr \'\\0\' a)"',
      65_536,
    );
    expect(result).toMatchObject({ stdoutTruncated: false, stdout: `café ${'a'.repeat(1000)}` });
  });
});
