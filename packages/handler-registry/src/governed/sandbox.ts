import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  DEFAULT_LIMITS,
  DEFAULT_RUN_AS,
  type ResourceLimits,
  type RunAs,
  SANDBOX_WORK_DIR,
} from './config.js';
import { GovernedRunError } from './errors.js';

/**
 * The OS sandbox of governed runs: bubblewrap for namespaces and mounts, prlimit (util-linux)
 * for rlimits, GNU time for resource use. Everything is spawned with an argv array, never a
 * shell, with an environment built from scratch.
 */
export interface SandboxTools {
  /** bubblewrap (>= 0.8 for --disable-userns). */
  bwrap: string;
  /** util-linux prlimit: applies the rlimits inside the sandbox, then execs the command. */
  prlimit: string;
  /** GNU time for max RSS and CPU time, or null: those fields are then reported as null. */
  time: string | null;
}

export const DEFAULT_SANDBOX_TOOLS: Readonly<SandboxTools> = Object.freeze({
  bwrap: '/usr/bin/bwrap',
  prlimit: '/usr/bin/prlimit',
  time: '/usr/bin/time',
});

export type Isolation = 'bwrap' | 'none';

export interface SandboxRunSpec {
  tools: Readonly<SandboxTools>;
  isolation: Isolation;
  /** Absolute host path; the same path inside the sandbox. */
  executable: string;
  args: readonly string[];
  /** The complete environment of the command (nothing is inherited). */
  env: Readonly<Record<string, string>>;
  stdin?: string | undefined;
  limits: Readonly<ResourceLimits>;
  timeoutMs: number;
  /** Host directory mounted at /work (bwrap) or used as the cwd (none). */
  workDir: string;
  /**
   * An open descriptor of `workDir`, checked by the caller: the directory is then mounted
   * (bwrap) or entered (none) through it, so swapping the path for a symlink after the check
   * changes nothing.
   */
  workDirFd?: number | undefined;
  workDirWritable: boolean;
  readOnlyPaths: readonly string[];
  /** Host file GNU time writes to; outside every mount of the sandbox, so it cannot be forged. */
  rusageFile: string | null;
  /** uid/gid to run as (the service is root), or null to keep the service's own. */
  runAs: Readonly<RunAs> | null;
  signal?: AbortSignal | undefined;
}

export interface SandboxRunResult {
  /** Exit code; a command killed by a signal inside a wrapper reports 128 + signal number. */
  exitCode: number | null;
  /** Set when the run itself was killed (timeout or abort): `SIGKILL`. */
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
  maxRssKiB: number | null;
  cpuMs: number | null;
  timedOut: boolean;
  isolation: Isolation;
}

// Read-only system directories. Where one is a symlink (merged /usr) the same symlink is made.
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
// Only what dynamic loading and Debian's alternatives symlinks need; never /etc as a whole
// (no passwd, shadow, ssl keys, hosts, the service's config).
const SYSTEM_FILES = ['/etc/alternatives', '/etc/ld.so.cache'];

let systemMountsCache: { args: string[]; visible: string[] } | undefined;

function systemMounts(): { args: string[]; visible: string[] } {
  if (systemMountsCache) return systemMountsCache;
  const args: string[] = [];
  const visible: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    try {
      const info = lstatSync(dir);
      if (info.isSymbolicLink()) {
        args.push('--symlink', readlinkSync(dir), dir);
        visible.push(dir);
      } else if (info.isDirectory()) {
        args.push('--ro-bind', dir, dir);
        visible.push(dir);
      }
    } catch {
      // absent on this system
    }
  }
  for (const file of SYSTEM_FILES) {
    if (existsSync(file)) args.push('--ro-bind', file, file);
  }
  systemMountsCache = { args, visible };
  return systemMountsCache;
}

function isUnder(child: string, parent: string): boolean {
  return child === parent || child.startsWith(`${parent}/`);
}

/** The bwrap arguments up to and including `--` (the command follows). */
export function buildBwrapArgs(spec: SandboxRunSpec): string[] {
  const system = systemMounts();
  const args = [
    // user, ipc, pid, net, uts, cgroup: no network at all (only a private loopback).
    '--unshare-all',
    '--unshare-user',
    // No nested user namespaces: less kernel attack surface from inside.
    '--disable-userns',
    // The command is the namespace's pid 1 and bwrap's direct child: bwrap waits for it, so
    // GNU time around bwrap sees the command's rusage. When it dies the namespace dies.
    '--as-pid-1',
    // SIGKILL to the command if bwrap dies (the run's process group is killed on timeout).
    '--die-with-parent',
    // setsid: the command cannot reach the caller's terminal (TIOCSTI).
    '--new-session',
    '--cap-drop',
    'ALL',
    ...system.args,
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--size',
    String(spec.limits.tmpBytes),
    '--tmpfs',
    '/tmp',
  ];
  const extra = new Set<string>();
  for (const file of [spec.executable, spec.tools.prlimit, ...spec.readOnlyPaths]) {
    if (!system.visible.some((dir) => isUnder(file, dir))) extra.add(file);
  }
  for (const file of extra) args.push('--ro-bind', file, file);
  if (spec.workDirFd === undefined) {
    args.push(spec.workDirWritable ? '--bind' : '--ro-bind', spec.workDir, SANDBOX_WORK_DIR);
  } else {
    // bwrap mounts the descriptor and closes it: the command never holds a host directory.
    args.push(spec.workDirWritable ? '--bind-fd' : '--ro-bind-fd', String(WORK_DIR_FD), SANDBOX_WORK_DIR);
  }
  // The root tmpfs (mount points only) and /dev become read-only once everything is mounted.
  args.push('--remount-ro', '/', '--remount-ro', '/dev', '--chdir', SANDBOX_WORK_DIR, '--clearenv');
  // bwrap reports the command's host pid here (and closes it for the command).
  args.push('--json-status-fd', String(STATUS_FD));
  for (const [name, value] of Object.entries(spec.env)) args.push('--setenv', name, value);
  args.push('--');
  return args;
}

/** prlimit arguments up to and including `--`. Soft and hard limits are the same. */
export function buildPrlimitArgs(limits: Readonly<ResourceLimits>): string[] {
  return [
    `--as=${limits.memoryBytes}`,
    `--cpu=${limits.cpuSeconds}`,
    `--nproc=${limits.maxProcesses}`,
    `--fsize=${limits.maxFileBytes}`,
    `--nofile=${limits.maxOpenFiles}`,
    '--core=0',
    '--',
  ];
}

/** The spawn stdio slot bwrap writes its JSON status to. */
const STATUS_FD = 3;
/** Where a pinned work directory's descriptor (SandboxRunSpec.workDirFd) is in the child. */
const WORK_DIR_FD = 4;

// GNU time opens its -o file before it forks, and the descriptor is inherited down to the
// command (bwrap closes nothing it did not open), so the command could write into that file.
// A per-run random token in the format makes time's own line unforgeable under bwrap: time
// runs outside the pid namespace (its argv is invisible) and writes only after every process
// of the sandbox is dead. Without bwrap the numbers are advisory.
const RUSAGE_MARK = 'openexec-rusage';

/** The full argv: [time -o file --] [bwrap ... --] prlimit ... -- executable args. */
export function buildCommand(spec: SandboxRunSpec, rusageToken = ''): string[] {
  const inner = [spec.tools.prlimit, ...buildPrlimitArgs(spec.limits), spec.executable, ...spec.args];
  const wrapped = spec.isolation === 'bwrap' ? [spec.tools.bwrap, ...buildBwrapArgs(spec), ...inner] : inner;
  if (spec.tools.time && spec.rusageFile) {
    // %M max RSS (KiB), %U / %S user / system CPU seconds of the processes waited for.
    const format = `${RUSAGE_MARK}-${rusageToken} %M %U %S`;
    return [spec.tools.time, '-q', '-f', format, '-o', spec.rusageFile, '--', ...wrapped];
  }
  return wrapped;
}

/** Keeps at most `cap` bytes of a stream and drains (drops) the rest. */
class CappedBuffer {
  readonly #cap: number;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  truncated = false;
  constructor(cap: number) {
    this.#cap = cap;
  }
  push(chunk: Buffer): void {
    const room = this.#cap - this.#size;
    if (room <= 0) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (kept.length < chunk.length) this.truncated = true;
    this.#chunks.push(Buffer.from(kept));
    this.#size += kept.length;
  }
  text(): string {
    let bytes = Buffer.concat(this.#chunks, this.#size);
    if (this.truncated) bytes = bytes.subarray(0, completeUtf8Length(bytes));
    // Invalid sequences become U+FFFD.
    const text = bytes.toString('utf8');
    // The cap holds for the text as the result carries it, JSON-encoded: a control character
    // is six bytes there and an invalid byte three, so the bytes read can grow sixfold, and a
    // run that happened would become a result too large to keep, its run details lost.
    if (jsonLength(text) <= this.#cap) return text;
    this.truncated = true;
    return longestPrefixWithin(text, this.#cap);
  }
}

/** UTF-8 bytes of `text` as a JSON string, without the quotes. */
function jsonLength(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
}

/** The longest prefix of `text` whose JSON length is at most `cap` (no surrogate pair split). */
function longestPrefixWithin(text: string, cap: number): string {
  let low = 0;
  let high = text.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (jsonLength(text.slice(0, middle)) <= cap) low = middle;
    else high = middle - 1;
  }
  const code = text.charCodeAt(low - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? low - 1 : low);
}

/** Length of `bytes` without a UTF-8 sequence cut off at the end by the cap. */
function completeUtf8Length(bytes: Buffer): number {
  let start = bytes.length - 1;
  // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
  while (start >= 0 && bytes.length - start <= 4 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start--;
  if (start < 0) return bytes.length;
  const lead = bytes[start] ?? 0;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return bytes.length - start < need ? start : bytes.length;
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    // detached: the child (GNU time or bwrap) leads its own process group.
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid …; comm may contain spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

/**
 * Kills the sandboxed command itself (pid 1 of its namespace: every process in the namespace
 * goes with it) so bwrap reaps it and exits normally, reporting its resource use; then the
 * process group. The pid is checked to still be bwrap's child (bwrap being our child or GNU
 * time's) so a reused pid is never signalled.
 */
function killRun(child: ChildProcess, commandPid: number | null): void {
  if (commandPid !== null && child.pid !== undefined && child.exitCode === null) {
    const bwrapPid = parentOf(commandPid);
    if (bwrapPid !== null && (bwrapPid === child.pid || parentOf(bwrapPid) === child.pid)) {
      try {
        process.kill(commandPid, 'SIGKILL');
      } catch {
        // already gone
      }
      // bwrap exits once it has reaped the command; the group kill is the fallback (only
      // while our child is unreaped, so its pid cannot have been reused as a group id).
      setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) killGroup(child);
      }, KILL_GRACE_MS).unref();
      return;
    }
  }
  killGroup(child);
}

const KILL_GRACE_MS = 500;
const CLOSE_GRACE_MS = 1_000;

/**
 * Runs one command under the sandbox. Resolves with the outcome (including timeouts); rejects
 * only when the command could not be started.
 */
export async function runSandboxed(spec: SandboxRunSpec): Promise<SandboxRunResult> {
  const rusageToken = randomBytes(16).toString('hex');
  const argv = buildCommand(spec, rusageToken);
  const started = performance.now();
  const stdout = new CappedBuffer(spec.limits.stdoutBytes);
  const stderr = new CappedBuffer(spec.limits.stderrBytes);
  if (spec.signal?.aborted) throw new GovernedRunError('spawn_failed', 'run aborted before it started');

  const child = spawn(argv[0]!, argv.slice(1), {
    shell: false,
    detached: true,
    stdio: [
      'pipe',
      'pipe',
      'pipe',
      spec.isolation === 'bwrap' ? 'pipe' : 'ignore',
      ...(spec.workDirFd === undefined ? [] : [spec.workDirFd]),
    ],
    // bwrap clears the environment itself; without bwrap this is the command's environment.
    env: spec.isolation === 'bwrap' ? { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' } : { ...spec.env },
    // The child enters a pinned directory through its descriptor (set up before the chdir).
    cwd:
      spec.isolation === 'bwrap'
        ? '/'
        : spec.workDirFd === undefined
          ? spec.workDir
          : `/proc/self/fd/${WORK_DIR_FD}`,
    ...(spec.runAs ? { uid: spec.runAs.uid, gid: spec.runAs.gid } : {}),
    windowsHide: true,
  });

  let timedOut = false;
  let killedByUs = false;
  let commandPid: number | null = null;
  const status = child.stdio[STATUS_FD] as Readable | null | undefined;
  if (status) {
    let text = '';
    status.setEncoding('utf8');
    status.on('data', (chunk: string) => {
      if (commandPid !== null || text.length > 4096) return;
      text += chunk;
      const match = /"child-pid"\s*:\s*(\d+)/.exec(text);
      if (match) commandPid = Number(match[1]);
    });
    status.on('error', () => {});
  }
  const stop = (reason: 'timeout' | 'abort') => {
    if (reason === 'timeout') timedOut = true;
    killedByUs = true;
    killRun(child, commandPid);
  };
  const timer = setTimeout(() => stop('timeout'), spec.timeoutMs);
  const onAbort = () => stop('abort');
  spec.signal?.addEventListener('abort', onAbort, { once: true });

  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.stdout?.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  child.stdin?.on('error', () => {
    // The command may exit without reading its stdin (EPIPE): not an error of the run.
  });
  child.stdin?.end(spec.stdin ?? '');

  try {
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>(
      (resolve, reject) => {
        child.once('error', (error) =>
          reject(new GovernedRunError('spawn_failed', `could not start ${argv[0]}`, { cause: error })),
        );
        child.once('exit', (code, signal) => resolve({ code, signal }));
      },
    );
    // Without a pid namespace (isolation none), background children may outlive the command.
    // The group id stays reserved while any member lives, so this cannot hit a stranger.
    if (spec.isolation === 'none') killGroup(child);
    // A process that escaped the group (setsid, isolation none) could hold the pipes open.
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([
      closed,
      new Promise<void>((resolve) => {
        grace = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          resolve();
        }, CLOSE_GRACE_MS);
      }),
    ]);
    clearTimeout(grace);
    const durationMs = Math.round((performance.now() - started) * 1000) / 1000;
    const usage = spec.rusageFile ? await readRusage(spec.rusageFile, rusageToken) : null;
    return {
      // Killed by us (timeout or abort): the wrappers' exit codes say nothing about the command.
      exitCode: killedByUs ? null : exit.code,
      signal: killedByUs ? 'SIGKILL' : exit.signal,
      stdout: stdout.text(),
      stderr: stderr.text(),
      stdoutTruncated: stdout.truncated,
      stderrTruncated: stderr.truncated,
      durationMs,
      maxRssKiB: usage?.maxRssKiB ?? null,
      cpuMs: usage?.cpuMs ?? null,
      timedOut,
      isolation: spec.isolation,
    };
  } finally {
    clearTimeout(timer);
    spec.signal?.removeEventListener('abort', onAbort);
    if (child.exitCode === null && child.signalCode === null) killGroup(child);
  }
}

async function readRusage(file: string, token: string): Promise<{ maxRssKiB: number; cpuMs: number } | null> {
  const text = await readFile(file, 'latin1').catch(() => '');
  const pattern = new RegExp(`${RUSAGE_MARK}-${token} (\\d+) (\\d+\\.\\d+) (\\d+\\.\\d+)`, 'g');
  const matches = [...text.matchAll(pattern)];
  // Exactly one line carries the token; anything else is not time's report.
  if (matches.length !== 1) return null;
  const [, rss, user, system] = matches[0]!;
  const maxRssKiB = Number(rss);
  const cpuMs = Math.round((Number(user) + Number(system)) * 1000);
  if (!Number.isSafeInteger(maxRssKiB) || !Number.isFinite(cpuMs)) return null;
  return { maxRssKiB, cpuMs };
}

/** A per-run directory: `work/` (the sandbox's /work) and the rusage file beside it. */
export interface RunDirectory {
  root: string;
  work: string;
  rusageFile: string;
  remove(): Promise<void>;
}

export async function createRunDirectory(
  tmpDir: string,
  runAs: Readonly<RunAs> | null,
): Promise<RunDirectory> {
  const root = await mkdtemp(path.join(tmpDir, 'openexec-run-'));
  const work = path.join(root, 'work');
  const rusageFile = path.join(root, 'rusage');
  const remove = async () => {
    try {
      await rm(root, { recursive: true, force: true, maxRetries: 2 });
    } catch {
      // The run may have left directories its owner cannot enter (`chmod 000`): when the
      // sandbox runs as the service's own user, that stops a non-root service's rm. They
      // are the service's own: open them up, then remove.
      await openUp(root);
      await rm(root, { recursive: true, force: true, maxRetries: 2 });
    }
  };
  try {
    // root: traversable by the sandbox user, not listable; work: owned by the sandbox user.
    await chmod(root, 0o711);
    await mkdir(work, { mode: 0o700 });
    await writeFile(rusageFile, '', { mode: 0o600 });
    if (runAs) {
      await chown(work, runAs.uid, runAs.gid);
      await chown(rusageFile, runAs.uid, runAs.gid);
    }
  } catch (error) {
    await remove();
    throw error;
  }
  return { root, work, rusageFile, remove };
}

/** chmod 0700 on every directory under `root` (iteratively: a run may nest thousands deep). */
async function openUp(root: string): Promise<void> {
  const pending = [root];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    await chmod(dir, 0o700).catch(() => {});
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (entry.isDirectory()) pending.push(path.join(dir, entry.name));
    }
  }
}

export interface SandboxProbeResult {
  available: boolean;
  /** Why not, for logs (bwrap's stderr first line or the spawn error). */
  reason: string | null;
}

export interface SandboxProbeOptions {
  tools?: Readonly<SandboxTools>;
  runAs?: Readonly<RunAs> | null;
  tmpDir?: string;
  timeoutMs?: number;
}

/**
 * Whether bubblewrap can build the sandbox here, as the user runs will use: runs prlimit
 * (which every run execs) inside a full sandbox once.
 */
export async function probeSandbox(options: SandboxProbeOptions = {}): Promise<SandboxProbeResult> {
  const tools = options.tools ?? DEFAULT_SANDBOX_TOOLS;
  const runAs = options.runAs === undefined ? defaultRunAs() : options.runAs;
  if (!existsSync(tools.bwrap)) return { available: false, reason: `${tools.bwrap} not found` };
  let dir: RunDirectory | undefined;
  try {
    dir = await createRunDirectory(options.tmpDir ?? os.tmpdir(), runAs);
    const result = await runSandboxed({
      tools: { ...tools, time: null },
      isolation: 'bwrap',
      executable: tools.prlimit,
      args: ['--version'],
      env: { PATH: '/usr/bin:/bin' },
      limits: DEFAULT_LIMITS,
      timeoutMs: options.timeoutMs ?? 10_000,
      workDir: dir.work,
      workDirWritable: true,
      readOnlyPaths: [],
      rusageFile: null,
      runAs,
    });
    if (result.exitCode === 0) return { available: true, reason: null };
    const firstLine = result.stderr.split('\n', 1)[0] ?? '';
    return {
      available: false,
      reason: `bwrap exited ${result.exitCode ?? result.signal}${firstLine ? `: ${firstLine.slice(0, 200)}` : ''}`,
    };
  } catch (error) {
    return { available: false, reason: error instanceof Error ? error.message : String(error) };
  } finally {
    await dir?.remove();
  }
}

/**
 * The uid/gid runs use when none is configured: nobody when the service is root (root ignores
 * RLIMIT_NPROC, and no sandboxed code should be uid 0 outside its namespace), else the service's.
 */
export function defaultRunAs(): Readonly<RunAs> | null {
  return process.getuid?.() === 0 ? DEFAULT_RUN_AS : null;
}

const O_CLOEXEC = 0o2000000;

/**
 * Descriptors of this process without close-on-exec, with what they point at. Every spawned
 * command inherits them, through bwrap, into the sandbox; an inherited directory descriptor
 * would be a way out. Node opens its own descriptors close-on-exec, so these came from the
 * service's parent.
 */
export function inheritedDescriptors(): { fd: number; target: string }[] {
  let fds: number[];
  try {
    fds = readdirSync('/proc/self/fdinfo')
      .map(Number)
      .filter((fd) => Number.isInteger(fd) && fd > 2);
  } catch {
    return [];
  }
  const found: { fd: number; target: string }[] = [];
  for (const fd of fds) {
    try {
      const flags = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (flags === undefined || (Number.parseInt(flags, 8) & O_CLOEXEC) !== 0) continue;
      found.push({ fd, target: readlinkSync(`/proc/self/fd/${fd}`) });
    } catch {
      // closed meanwhile
    }
  }
  return found;
}
