import { closeSync, existsSync, statSync } from 'node:fs';
import { lstat, realpath, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { defineHandler, type Handler, type HandlerContext } from '../define.js';
import {
  type CodeActionConfig,
  DEFAULT_RUN_AS,
  type GovernedActionConfig,
  type GovernedConfig,
  type ProcessActionConfig,
  type RunAs,
  SANDBOX_WORK_DIR,
} from './config.js';
import { executableProblem, sha256File } from './digest.js';
import {
  BinaryChangedError,
  GOVERNED_INPUT_ERROR_CODES,
  GovernedConfigError,
  GovernedInputError,
  type GovernedInputErrorCode,
  SandboxUnavailableError,
} from './errors.js';
import { collectOutputFiles } from './files.js';
import { checkArgv, checkEnv, type PolicyViolation, pinCwd, resolveCwd } from './policy.js';
import {
  createRunDirectory,
  DEFAULT_SANDBOX_TOOLS,
  type Isolation,
  inheritedDescriptors,
  probeSandbox,
  type RunDirectory,
  runSandboxed,
  type SandboxProbeResult,
  type SandboxTools,
} from './sandbox.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Request limits (the payload is also bounded by the API's body limit). */
export const GOVERNED_INPUT_LIMITS = Object.freeze({
  maxArgs: 1024,
  maxArgChars: 4096,
  maxArgvBytes: 256 * KiB,
  maxEnvEntries: 64,
  maxEnvValueChars: 32 * KiB,
  maxStdinBytes: 1 * MiB,
  maxCodeBytes: 256 * KiB,
});

/** Extra time the registry's timeout leaves beyond the sandbox's own wall-clock kill. */
const HANDLER_GRACE_MS = 5_000;

const noNul = (text: string) => !text.includes('\0');
const utf8Within = (max: number) => (text: string) => Buffer.byteLength(text, 'utf8') <= max;

const argSchema = z.string().max(GOVERNED_INPUT_LIMITS.maxArgChars).refine(noNul, 'must not contain NUL');
const argsSchema = z
  .array(argSchema)
  .max(GOVERNED_INPUT_LIMITS.maxArgs)
  .refine(
    (args) =>
      args.reduce((sum, arg) => sum + Buffer.byteLength(arg, 'utf8') + 1, 0) <=
      GOVERNED_INPUT_LIMITS.maxArgvBytes,
    `arguments exceed ${GOVERNED_INPUT_LIMITS.maxArgvBytes} bytes in total`,
  );
const stdinSchema = z
  .string()
  .max(GOVERNED_INPUT_LIMITS.maxStdinBytes)
  .refine(utf8Within(GOVERNED_INPUT_LIMITS.maxStdinBytes), 'stdin is over 1 MiB');

const outputFileSchema = z.strictObject({
  name: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  base64: z.string().optional(),
});

/** The result of every governed run (what the receipt records). */
export const governedOutputSchema = z.strictObject({
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  stdoutTruncated: z.boolean(),
  stderrTruncated: z.boolean(),
  durationMs: z.number().nonnegative(),
  maxRssKiB: z.number().int().nonnegative().nullable(),
  cpuMs: z.number().int().nonnegative().nullable(),
  timedOut: z.boolean(),
  isolation: z.enum(['bwrap', 'none']),
  /** SHA-256 of the executable or interpreter that ran (checked right before the run). */
  binarySha256: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.array(outputFileSchema).optional(),
});

export type GovernedOutput = z.output<typeof governedOutputSchema>;

export interface ProcessInput {
  args: string[];
  env?: Record<string, string> | undefined;
  cwd?: string | undefined;
  stdin?: string | undefined;
}

export interface CodeInput {
  code: string;
  stdin?: string | undefined;
  args: string[];
}

export interface LoadGovernedOptions {
  /**
   * Probe bubblewrap and each code interpreter at load (default true). With false, the sandbox
   * is probed at the first run instead (still fail-closed) and interpreters are not tried.
   */
  probe?: boolean;
  /** Paths of bwrap, prlimit and GNU time (defaults under /usr/bin; never searched in PATH). */
  tools?: Partial<SandboxTools>;
  /** Where per-run directories are made (default os.tmpdir()). Never inside a sandbox. */
  tmpDir?: string;
  /** Start-up warnings (sandbox unavailable, GNU time missing). */
  onWarning?: (message: string) => void;
}

const LANGUAGE_FILE: Record<CodeActionConfig['language'], string> = {
  python: 'main.py',
  node: 'main.js',
  bash: 'main.sh',
};

const PROBE_SNIPPET: Record<CodeActionConfig['language'], string> = {
  python: 'pass\n',
  node: ';\n',
  bash: ':\n',
};

/**
 * Builds one {@link Handler} per configured action. Checks at start-up that every executable
 * and interpreter is an absolute path to a regular, executable file and pins (or compares) its
 * SHA-256; a mismatch or a missing file throws {@link GovernedConfigError} naming the action.
 */
export async function loadGovernedHandlers(
  config: GovernedConfig,
  options: LoadGovernedOptions = {},
): Promise<Handler[]> {
  const warn = options.onWarning ?? (() => {});
  const tmpDir = options.tmpDir ?? os.tmpdir();
  if (!path.isAbsolute(tmpDir) || !existsSync(tmpDir) || !statSync(tmpDir).isDirectory()) {
    throw new TypeError(`tmpDir ${tmpDir} must be an existing absolute directory`);
  }
  const runAs = resolveRunAs(config.runAs);
  const tools = await resolveTools(options.tools ?? {}, warn);
  const inherited = inheritedDescriptors();
  if (inherited.length > 0) {
    warn(
      `file descriptors without close-on-exec are inherited by every governed run, inside the sandbox too: ${inherited
        .map(({ fd, target }) => `${fd} -> ${target}`)
        .join(', ')}; start the service without them`,
    );
  }

  let probed: Promise<SandboxProbeResult> | undefined;
  const sandbox = () => {
    probed ??= probeSandbox({ tools, runAs, tmpDir });
    return probed;
  };
  const probe = options.probe ?? true;
  if (probe && config.actions.some((action) => action.isolation === 'bwrap')) {
    const result = await sandbox();
    if (!result.available) {
      const refusing = config.actions
        .filter((action) => action.isolation === 'bwrap')
        .map((action) => action.name);
      warn(
        `bubblewrap sandbox unavailable (${result.reason}); these actions will refuse to run: ${refusing.join(', ')}`,
      );
    }
  }

  const handlers: Handler[] = [];
  for (const action of config.actions) {
    const binary = action.kind === 'process' ? action.executable : action.interpreter;
    const problem = await executableProblem(binary, runAs);
    if (problem) {
      throw new GovernedConfigError('ERR_GOVERNED_EXECUTABLE_INVALID', `action ${action.name}: ${problem}`);
    }
    const digest = await sha256File(binary);
    if (action.sha256 !== null && action.sha256 !== digest) {
      throw new GovernedConfigError(
        'ERR_GOVERNED_DIGEST_MISMATCH',
        `action ${action.name}: ${binary} has sha256 ${digest}, the config pins ${action.sha256}`,
      );
    }
    for (const [index, file] of action.readOnlyPaths.entries()) {
      if (!(await lstat(file).catch(() => null))) {
        throw new GovernedConfigError(
          'ERR_GOVERNED_CONFIG_INVALID',
          `action ${action.name}: readOnlyPaths[${index}] ${file} does not exist`,
        );
      }
    }
    const runtime: Runtime = { action, binary, digest, runAs, tools, tmpDir, sandbox };
    if (action.kind === 'process') {
      let cwdRoot: string | null = null;
      if (action.cwd) {
        cwdRoot = await realpath(action.cwd.root).catch(() => null);
        if (!cwdRoot || !statSync(cwdRoot).isDirectory()) {
          throw new GovernedConfigError(
            'ERR_GOVERNED_CONFIG_INVALID',
            `action ${action.name}: cwd.root ${action.cwd.root} is not an existing directory`,
          );
        }
      }
      handlers.push(processHandler(runtime, action, cwdRoot));
    } else {
      const handler = codeHandler(runtime, action);
      if (probe) await probeInterpreter(handler, action, sandbox);
      handlers.push(handler);
    }
  }
  return handlers;
}

interface Runtime {
  action: GovernedActionConfig;
  binary: string;
  digest: string;
  runAs: Readonly<RunAs> | null;
  tools: Readonly<SandboxTools>;
  tmpDir: string;
  sandbox: () => Promise<SandboxProbeResult>;
}

function resolveRunAs(configured: Readonly<RunAs> | null): Readonly<RunAs> | null {
  const uid = process.getuid?.();
  if (uid === 0) return configured ?? DEFAULT_RUN_AS;
  if (configured && configured.uid !== uid) {
    throw new GovernedConfigError(
      'ERR_GOVERNED_CONFIG_INVALID',
      `runAs.uid ${configured.uid} needs the service to run as root (it runs as uid ${uid})`,
    );
  }
  return null;
}

async function resolveTools(
  overrides: Partial<SandboxTools>,
  warn: (message: string) => void,
): Promise<Readonly<SandboxTools>> {
  const tools: SandboxTools = { ...DEFAULT_SANDBOX_TOOLS, ...overrides };
  for (const [name, file] of Object.entries(tools)) {
    if (file !== null && !path.isAbsolute(file))
      throw new TypeError(`tools.${name} must be an absolute path`);
  }
  const prlimit = await lstat(tools.prlimit).catch(() => null);
  if (!prlimit?.isFile()) {
    throw new GovernedConfigError(
      'ERR_GOVERNED_PROBE_FAILED',
      `prlimit (util-linux) not found at ${tools.prlimit}: resource limits cannot be applied`,
    );
  }
  if (tools.time !== null && !(await lstat(tools.time).catch(() => null))?.isFile()) {
    warn(`GNU time not found at ${tools.time}: maxRssKiB and cpuMs will be null`);
    tools.time = null;
  }
  return Object.freeze(tools);
}

/** Runs a no-op snippet once so an interpreter that cannot start under its limits stops start-up. */
async function probeInterpreter(
  handler: Handler,
  action: CodeActionConfig,
  sandbox: () => Promise<SandboxProbeResult>,
): Promise<void> {
  if (action.isolation === 'bwrap' && !(await sandbox()).available) return;
  const controller = new AbortController();
  const context: HandlerContext = {
    signal: controller.signal,
    executionId: 'probe',
    tenant: 'probe',
    nonce: 'probe',
  };
  const result = (await handler.run(
    { code: PROBE_SNIPPET[action.language], args: [] },
    context,
  )) as GovernedOutput;
  if (result.exitCode !== 0) {
    const lastLine =
      result.stderr
        .split('\n')
        .map((line) => line.replace(/^#\s*/, '').trim())
        .filter(Boolean)
        .at(-1)
        ?.slice(0, 200) ?? '';
    throw new GovernedConfigError(
      'ERR_GOVERNED_PROBE_FAILED',
      `action ${action.name}: ${action.interpreter} did not run a no-op snippet under its limits (exit ${result.exitCode ?? result.signal})${lastLine ? `: ${lastLine}` : ''}`,
    );
  }
}

/** The request-time checks of a process action, in the order they are reported. */
function processViolations(
  action: ProcessActionConfig,
  cwdRoot: string | null,
  input: ProcessInput,
): PolicyViolation[] {
  const violations: PolicyViolation[] = [];
  const argv = checkArgv(action.argv, input.args);
  if (argv) violations.push(argv);
  if (input.env && Object.keys(input.env).length > GOVERNED_INPUT_LIMITS.maxEnvEntries) {
    violations.push({
      code: 'ERR_ENV_FORBIDDEN',
      message: `at most ${GOVERNED_INPUT_LIMITS.maxEnvEntries} environment variables`,
      path: ['env'],
    });
  } else {
    const env = checkEnv(action.env?.allow ?? null, input.env);
    if (env) violations.push(env);
  }
  const cwd = resolveCwd(cwdRoot, input.cwd);
  if (!cwd.ok) violations.push(cwd.violation);
  return violations;
}

function processInputSchema(action: ProcessActionConfig, cwdRoot: string | null) {
  return z
    .strictObject({
      args: argsSchema.default([]),
      env: z
        .record(
          z.string().max(128),
          z.string().max(GOVERNED_INPUT_LIMITS.maxEnvValueChars).refine(noNul, 'must not contain NUL'),
        )
        .optional(),
      cwd: z.string().min(1).max(4096).refine(noNul, 'must not contain NUL').optional(),
      stdin: stdinSchema.optional(),
    })
    .superRefine((input, ctx) => {
      // The refusal codes travel in the message so the API's plain safeParse (before the nonce
      // is reserved) reports them as a 400 with no extra wiring.
      for (const violation of processViolations(action, cwdRoot, input)) {
        ctx.addIssue({
          code: 'custom',
          path: violation.path,
          message: `${violation.code}: ${violation.message}`,
        });
      }
    });
}

const codeInputSchema = z.strictObject({
  code: z
    .string()
    .max(GOVERNED_INPUT_LIMITS.maxCodeBytes)
    .refine(utf8Within(GOVERNED_INPUT_LIMITS.maxCodeBytes), 'code is over 256 KiB'),
  stdin: stdinSchema.optional(),
  args: argsSchema.default([]),
});

/** PATH, LANG and HOME, then the request's allowed overrides. Nothing is inherited. */
function buildEnv(overrides: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const env: Record<string, string> = Object.create(null);
  env.PATH = '/usr/bin:/bin';
  env.LANG = 'C.UTF-8';
  env.HOME = '/tmp';
  for (const [name, value] of Object.entries(overrides ?? {})) env[name] = value;
  return env;
}

/** Refuses unless the sandbox is usable (or not wanted) and the binary is still the pinned one. */
async function preflight(runtime: Runtime, isolation: Isolation): Promise<void> {
  if (isolation === 'bwrap') {
    const sandbox = await runtime.sandbox();
    if (!sandbox.available) {
      throw new SandboxUnavailableError(`action ${runtime.action.name}: bubblewrap sandbox unavailable`);
    }
  }
  // Re-hashed before every run: a binary swapped since start-up never runs.
  const now = await sha256File(runtime.binary).catch(() => null);
  if (now !== runtime.digest) {
    throw new BinaryChangedError(
      `action ${runtime.action.name}: ${runtime.binary} no longer has its pinned sha256`,
    );
  }
}

function versionOf(digest: string): string {
  return `1.0.0+sha256.${digest.slice(0, 12)}`;
}

function processHandler(runtime: Runtime, action: ProcessActionConfig, cwdRoot: string | null): Handler {
  const input = processInputSchema(action, cwdRoot);
  return defineHandler({
    name: action.name,
    version: versionOf(runtime.digest),
    description:
      action.description ??
      `Runs ${action.executable} (argv profile, sandbox ${action.isolation}); no shell.`,
    input,
    output: governedOutputSchema,
    timeoutMs: action.timeoutMs + HANDLER_GRACE_MS,
    sideEffects: true,
    run: async (raw, ctx) => {
      // Checked again: run may be reached without the schema, and the cwd may have changed.
      const checked = input.safeParse(raw);
      if (!checked.success) throw inputError(checked.error);
      const request = checked.data;
      const cwd = resolveCwd(cwdRoot, request.cwd);
      if (!cwd.ok) throw new GovernedInputError(cwd.violation.code, cwd.violation.message);
      await preflight(runtime, action.isolation);
      // Checked once more through an open descriptor, which is what the run gets: a cwd swapped
      // for a symlink after the checks above cannot lead the mount out of the root.
      const pinned = action.cwd && cwdRoot ? pinCwd(cwdRoot, cwd.dir) : null;
      if (pinned && !pinned.ok) throw new GovernedInputError(pinned.violation.code, pinned.violation.message);
      let dir: RunDirectory | null = null;
      try {
        dir = await createRunDirectory(runtime.tmpDir, runtime.runAs);
        const result = await runSandboxed({
          tools: runtime.tools,
          isolation: action.isolation,
          executable: action.executable,
          args: [...action.fixedArgs, ...request.args],
          env: buildEnv(request.env),
          stdin: request.stdin,
          limits: action.limits,
          timeoutMs: action.timeoutMs,
          workDir: pinned ? pinned.dir : dir.work,
          workDirFd: pinned?.fd,
          workDirWritable: action.cwd ? action.cwd.writable : true,
          readOnlyPaths: action.readOnlyPaths,
          rusageFile: dir.rusageFile,
          runAs: runtime.runAs,
          signal: ctx.signal,
        });
        return { ...result, binarySha256: runtime.digest };
      } finally {
        if (pinned) closeSync(pinned.fd);
        if (dir) await removeRunDirectory(dir);
      }
    },
  });
}

function codeHandler(runtime: Runtime, action: CodeActionConfig): Handler {
  const file = LANGUAGE_FILE[action.language];
  return defineHandler({
    name: action.name,
    version: versionOf(runtime.digest),
    description:
      action.description ??
      `Runs an approved ${action.language} snippet with ${action.interpreter} (sandbox ${action.isolation}).`,
    input: codeInputSchema,
    output: governedOutputSchema,
    timeoutMs: action.timeoutMs + HANDLER_GRACE_MS,
    sideEffects: true,
    run: async (input, ctx) => {
      const parsed = codeInputSchema.safeParse(input);
      if (!parsed.success) throw inputError(parsed.error);
      const { code, stdin, args } = parsed.data;
      await preflight(runtime, action.isolation);
      const dir = await createRunDirectory(runtime.tmpDir, runtime.runAs);
      try {
        await writeFile(path.join(dir.work, file), code, { mode: 0o644 });
        const script =
          action.isolation === 'bwrap' ? `${SANDBOX_WORK_DIR}/${file}` : path.join(dir.work, file);
        const result = await runSandboxed({
          tools: runtime.tools,
          isolation: action.isolation,
          executable: action.interpreter,
          args: [...action.interpreterArgs, script, ...args],
          env: buildEnv(undefined),
          stdin,
          limits: action.limits,
          timeoutMs: action.timeoutMs,
          workDir: dir.work,
          workDirWritable: true,
          readOnlyPaths: action.readOnlyPaths,
          rusageFile: dir.rusageFile,
          runAs: runtime.runAs,
          signal: ctx.signal,
        });
        const files = action.outputFiles
          ? await collectOutputFiles(dir.work, action.outputFiles, new Set([file]))
          : undefined;
        return { ...result, binarySha256: runtime.digest, ...(files ? { files } : {}) };
      } finally {
        await removeRunDirectory(dir);
      }
    },
  });
}

/**
 * Removes a run's directory. A failure is reported, never thrown: the run has happened, and
 * its outcome (stdout, exit code, what the receipt records) must not be replaced by an error
 * about cleaning up after it.
 */
async function removeRunDirectory(dir: RunDirectory): Promise<void> {
  try {
    await dir.remove();
  } catch (error) {
    process.emitWarning(`could not remove the run directory ${dir.root}: ${(error as Error).message}`, {
      code: 'OPENEXEC_RUN_DIRECTORY_LEFT',
    });
  }
}

export type GovernedInputValidation =
  | { success: true; data: unknown }
  | { success: false; error: GovernedInputError };

/**
 * `handler.input.safeParse` with the refusal code pulled out of the issue message: the first
 * policy refusal (`ERR_ARGV_DENIED_FLAG`, …) if any, else `ERR_INPUT_INVALID`.
 */
export function validateGovernedInput(handler: Handler, input: unknown): GovernedInputValidation {
  const parsed = handler.input.safeParse(input);
  return parsed.success
    ? { success: true, data: parsed.data }
    : { success: false, error: inputError(parsed.error) };
}

/** The first policy refusal (`ERR_ARGV_DENIED_FLAG: …`) of a zod error, else ERR_INPUT_INVALID. */
function inputError(error: z.ZodError): GovernedInputError {
  for (const issue of error.issues) {
    const match = /^(ERR_[A-Z_]+): ([\s\S]*)$/.exec(issue.message);
    const code = match?.[1] as GovernedInputErrorCode | undefined;
    if (match && code && GOVERNED_INPUT_ERROR_CODES.includes(code))
      return new GovernedInputError(code, match[2] ?? '');
  }
  const first = error.issues[0];
  const where = first && first.path.length > 0 ? `${first.path.map(String).join('.')}: ` : '';
  return new GovernedInputError('ERR_INPUT_INVALID', `${where}${first?.message ?? 'invalid input'}`);
}

/** What a receipt records of a governed run; null for results of other handlers. */
export function describeRun(result: unknown): {
  isolation: GovernedOutput['isolation'];
  run: {
    exit_code: number | null;
    signal: string | null;
    duration_ms: number;
    max_rss_kib: number | null;
    cpu_ms: number | null;
  };
} | null {
  // Called for every result: most are not a governed run's, and a failed parse builds an error
  // with its issues (a tenth of a demo request's allocations).
  if (typeof result !== 'object' || result === null || !('isolation' in result)) return null;
  const parsed = governedOutputSchema.safeParse(result);
  if (!parsed.success) return null;
  const r = parsed.data;
  return {
    isolation: r.isolation,
    run: {
      exit_code: r.exitCode,
      signal: r.signal,
      duration_ms: r.durationMs,
      max_rss_kib: r.maxRssKiB,
      cpu_ms: r.cpuMs,
    },
  };
}
