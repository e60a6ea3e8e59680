import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { GovernedConfigError } from './errors.js';

/**
 * The operator's governed-actions file (OPENEXEC_ACTIONS_FILE), read once at start-up.
 * Everything here is operator-trusted; nothing in it comes from a request. Parsing is strict:
 * an unknown key is a typo that would silently drop a control, so it stops the service.
 */

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** Defaults of `limits`; `memoryBytes` is RLIMIT_AS (address space, not resident memory). */
export const DEFAULT_LIMITS: Readonly<ResourceLimits> = Object.freeze({
  memoryBytes: 256 * MiB,
  cpuSeconds: 10,
  maxProcesses: 64,
  maxFileBytes: 16 * MiB,
  maxOpenFiles: 256,
  stdoutBytes: 1 * MiB,
  stderrBytes: 1 * MiB,
  tmpBytes: 64 * MiB,
});

/**
 * V8 reserves about 1 GiB of address space at start-up (its code range and heap cage), so
 * node cannot start under the 256 MiB default; its default address-space limit is higher.
 * Bound node's heap with `interpreterArgs: ['--max-old-space-size=…']` instead.
 */
export const NODE_DEFAULT_MEMORY_BYTES = 4 * GiB;

export const DEFAULT_TIMEOUT_MS = 30_000;

/** The uid/gid sandboxes run as when the service runs as root (RLIMIT_NPROC ignores root). */
export const DEFAULT_RUN_AS: Readonly<RunAs> = Object.freeze({ uid: 65534, gid: 65534 });

/** The directory a run sees as its working directory inside the sandbox. */
export const SANDBOX_WORK_DIR = '/work';

// Loader and interpreter start-up hooks: setting any of them runs code of the caller's choosing
// (or, for GLIBC_TUNABLES, has been an exploit vector: CVE-2023-4911). Refused even if allowed.
const FORBIDDEN_ENV_EXACT = new Set([
  'PATH',
  'GLIBC_TUNABLES',
  'GCONV_PATH',
  'LOCPATH',
  'NODE_OPTIONS',
  'NODE_PATH',
  'PYTHONPATH',
  'PYTHONHOME',
  'PYTHONSTARTUP',
  'PYTHONINSPECT',
  'BASH_ENV',
  'ENV',
  'SHELLOPTS',
  'BASHOPTS',
  'PS4',
  'IFS',
  'PERL5OPT',
  'PERL5LIB',
  'RUBYOPT',
]);
const FORBIDDEN_ENV_PREFIXES = ['LD_', 'DYLD_', 'BASH_FUNC_'];

/** True for a variable no request (and no operator allow-list) may set. */
export function isForbiddenEnvName(name: string): boolean {
  const upper = name.toUpperCase();
  return FORBIDDEN_ENV_EXACT.has(upper) || FORBIDDEN_ENV_PREFIXES.some((prefix) => upper.startsWith(prefix));
}

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const FLAG = /^--?[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const ACTION_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

// Paths the sandbox itself mounts: an operator path there would be hidden or would shadow them.
const SANDBOX_OWNED = ['/proc', '/dev', SANDBOX_WORK_DIR];

function isUnder(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent === '/' ? '/' : `${parent}/`);
}

const absolutePath = z
  .string()
  .min(2)
  .max(4096)
  .refine((p) => !p.includes('\0'), 'must not contain NUL')
  .refine((p) => path.isAbsolute(p), 'must be an absolute path')
  .refine(
    (p) => path.posix.normalize(p) === p && !p.endsWith('/'),
    'must be normalized (no ., .., //, trailing /)',
  );

const hostPath = absolutePath.refine(
  (p) => !SANDBOX_OWNED.some((owned) => isUnder(p, owned)),
  `must not be under ${SANDBOX_OWNED.join(', ')} (mounted by the sandbox)`,
);

const sha256 = z.string().regex(SHA256_HEX, 'must be 64 lowercase hex characters (SHA-256)');

const fixedArg = z
  .string()
  .max(4096)
  .refine((s) => !s.includes('\0'), 'must not contain NUL');

const limitsSchema = z.strictObject({
  memoryBytes: z
    .number()
    .int()
    .min(16 * MiB)
    .max(64 * GiB)
    .optional(),
  cpuSeconds: z.number().int().min(1).max(3600).optional(),
  maxProcesses: z.number().int().min(1).max(4096).optional(),
  maxFileBytes: z
    .number()
    .int()
    .min(0)
    .max(64 * GiB)
    .optional(),
  maxOpenFiles: z.number().int().min(8).max(65536).optional(),
  stdoutBytes: z
    .number()
    .int()
    .min(0)
    .max(64 * MiB)
    .optional(),
  stderrBytes: z
    .number()
    .int()
    .min(0)
    .max(64 * MiB)
    .optional(),
  tmpBytes: z
    .number()
    .int()
    .min(1 * MiB)
    .max(16 * GiB)
    .optional(),
});

const isolationSchema = z.enum(['bwrap', 'none']);
const timeoutSchema = z.number().int().min(100).max(600_000);

const argvSchema = z.strictObject({
  minPositional: z.number().int().min(0).max(1024).default(0),
  maxPositional: z.number().int().min(0).max(1024),
  allowedValueFlags: z.array(z.string().regex(FLAG, 'must look like -x or --name')).max(256).default([]),
  allowedFlags: z.array(z.string().regex(FLAG, 'must look like -x or --name')).max(256).default([]),
  deniedFlags: z.array(z.string().regex(FLAG, 'must look like -x or --name')).max(256).default([]),
});

const processActionSchema = z.strictObject({
  kind: z.literal('process'),
  name: z.string().regex(ACTION_NAME, `must match ${ACTION_NAME}`),
  description: z.string().max(1000).optional(),
  executable: hostPath,
  sha256: sha256.optional(),
  fixedArgs: z.array(fixedArg).max(256).default([]),
  argv: argvSchema,
  env: z
    .strictObject({
      allow: z.array(z.string().regex(ENV_NAME, 'must be a valid environment variable name')).max(64),
    })
    .optional(),
  cwd: z
    .strictObject({
      root: absolutePath,
      /** Bind the chosen directory read-write (default read-only). */
      writable: z.boolean().default(false),
    })
    .optional(),
  timeoutMs: timeoutSchema.optional(),
  limits: limitsSchema.optional(),
  isolation: isolationSchema.default('bwrap'),
  readOnlyPaths: z.array(hostPath).max(64).default([]),
});

const extension = z.string().regex(/^\.[A-Za-z0-9]{1,16}$/, 'must look like .csv');

const codeActionSchema = z.strictObject({
  kind: z.literal('code'),
  name: z.string().regex(ACTION_NAME, `must match ${ACTION_NAME}`),
  description: z.string().max(1000).optional(),
  language: z.enum(['python', 'node', 'bash']),
  interpreter: hostPath,
  sha256: sha256.optional(),
  /** Operator-fixed interpreter flags placed before the snippet path (e.g. python -I). */
  interpreterArgs: z.array(fixedArg).max(64).default([]),
  timeoutMs: timeoutSchema.optional(),
  limits: limitsSchema.optional(),
  outputFiles: z
    .strictObject({
      extensions: z.array(extension).min(1).max(64),
      maxFileBytes: z
        .number()
        .int()
        .min(1)
        .max(64 * MiB),
      maxTotalBytes: z
        .number()
        .int()
        .min(1)
        .max(256 * MiB),
      maxFiles: z.number().int().min(1).max(1000).default(32),
    })
    .optional(),
  isolation: isolationSchema.default('bwrap'),
  readOnlyPaths: z.array(hostPath).max(64).default([]),
});

const configSchema = z
  .strictObject({
    version: z.literal(1).optional(),
    /** uid/gid the sandbox runs as when the service is root. Never 0. */
    runAs: z
      .strictObject({
        uid: z.number().int().min(1).max(0xfffffffe),
        gid: z.number().int().min(1).max(0xfffffffe),
      })
      .optional(),
    actions: z.array(z.discriminatedUnion('kind', [processActionSchema, codeActionSchema])).max(256),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.actions.forEach((action, index) => {
      const first = seen.get(action.name);
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['actions', index, 'name'],
          message: `duplicate action name ${action.name} (also actions[${first}])`,
        });
      } else {
        seen.set(action.name, index);
      }
      if (action.kind !== 'process') return;
      const { argv } = action;
      if (argv.minPositional > argv.maxPositional) {
        ctx.addIssue({
          code: 'custom',
          path: ['actions', index, 'argv', 'minPositional'],
          message: `minPositional ${argv.minPositional} is greater than maxPositional ${argv.maxPositional}`,
        });
      }
      const denied = new Set(argv.deniedFlags);
      for (const key of ['allowedValueFlags', 'allowedFlags'] as const) {
        argv[key].forEach((flag, flagIndex) => {
          if (denied.has(flag)) {
            ctx.addIssue({
              code: 'custom',
              path: ['actions', index, 'argv', key, flagIndex],
              message: `flag ${flag} is both allowed and denied`,
            });
          }
        });
      }
      const valueFlags = new Set(argv.allowedValueFlags);
      argv.allowedFlags.forEach((flag, flagIndex) => {
        if (valueFlags.has(flag)) {
          ctx.addIssue({
            code: 'custom',
            path: ['actions', index, 'argv', 'allowedFlags', flagIndex],
            message: `flag ${flag} is listed as both a value flag and a boolean flag`,
          });
        }
      });
      action.env?.allow.forEach((name, nameIndex) => {
        if (isForbiddenEnvName(name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['actions', index, 'env', 'allow', nameIndex],
            message: `${name} can never be set by a request (PATH, LD_*, DYLD_* and interpreter start-up hooks are refused)`,
          });
        }
      });
    });
  });

export type GovernedConfigInput = z.input<typeof configSchema>;
type ParsedConfig = z.output<typeof configSchema>;

export interface ResourceLimits {
  /** RLIMIT_AS in bytes. */
  memoryBytes: number;
  /** RLIMIT_CPU in seconds (SIGXCPU, then SIGKILL). */
  cpuSeconds: number;
  /** RLIMIT_NPROC: processes and threads of the sandbox user inside its user namespace. */
  maxProcesses: number;
  /** RLIMIT_FSIZE in bytes: largest file the run may write. */
  maxFileBytes: number;
  /** RLIMIT_NOFILE. */
  maxOpenFiles: number;
  /** Bytes of stdout kept; the rest is drained and dropped (`stdoutTruncated`). */
  stdoutBytes: number;
  stderrBytes: number;
  /** Size of the private /tmp tmpfs inside the sandbox. */
  tmpBytes: number;
}

export interface RunAs {
  uid: number;
  gid: number;
}

export interface ArgvProfile {
  minPositional: number;
  maxPositional: number;
  allowedValueFlags: readonly string[];
  allowedFlags: readonly string[];
  deniedFlags: readonly string[];
}

interface ActionCommon {
  name: string;
  description: string | null;
  sha256: string | null;
  timeoutMs: number;
  limits: Readonly<ResourceLimits>;
  isolation: 'bwrap' | 'none';
  readOnlyPaths: readonly string[];
}

export interface ProcessActionConfig extends ActionCommon {
  kind: 'process';
  executable: string;
  fixedArgs: readonly string[];
  argv: Readonly<ArgvProfile>;
  env: { allow: readonly string[] } | null;
  cwd: { root: string; writable: boolean } | null;
}

export interface OutputFilesConfig {
  extensions: readonly string[];
  maxFileBytes: number;
  maxTotalBytes: number;
  maxFiles: number;
}

export interface CodeActionConfig extends ActionCommon {
  kind: 'code';
  language: 'python' | 'node' | 'bash';
  interpreter: string;
  interpreterArgs: readonly string[];
  outputFiles: Readonly<OutputFilesConfig> | null;
}

export type GovernedActionConfig = ProcessActionConfig | CodeActionConfig;

/** A validated config with every default filled in. */
export interface GovernedConfig {
  runAs: Readonly<RunAs> | null;
  actions: readonly GovernedActionConfig[];
}

export interface ParseGovernedConfigOptions {
  /** Named in error messages, e.g. the file path. */
  source?: string;
}

/**
 * Parses and validates the operator's config. Throws {@link GovernedConfigError}
 * (`ERR_GOVERNED_CONFIG_INVALID`) naming the field path and, when known, the line.
 */
export function parseGovernedConfig(
  text: string,
  format: 'json' | 'yaml',
  options: ParseGovernedConfigOptions = {},
): GovernedConfig {
  if (typeof text !== 'string') throw new TypeError('config text must be a string');
  if (format !== 'json' && format !== 'yaml') throw new TypeError(`unknown config format ${String(format)}`);
  const source = options.source ?? `governed actions (${format})`;
  const lineCounter = new LineCounter();
  let data: unknown;
  if (format === 'json') {
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new GovernedConfigError('ERR_GOVERNED_CONFIG_INVALID', `${source}: not valid JSON`, {
        cause: error,
      });
    }
  }
  // JSON is YAML 1.2: one parse gives line numbers for both formats, and duplicate keys (which
  // JSON.parse silently resolves to the last one) are refused.
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const line = lineCounter.linePos(first.pos[0]).line;
    const message = `${first.code === 'DUPLICATE_KEY' ? 'duplicate key' : `invalid ${format.toUpperCase()}`}: ${firstLine(first.message)}`;
    throw new GovernedConfigError('ERR_GOVERNED_CONFIG_INVALID', `${source}: line ${line}: ${message}`, {
      cause: first,
      issues: [{ path: '(document)', line, message }],
    });
  }
  if (format === 'yaml') data = doc.toJS({ maxAliasCount: 100 });

  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 10).map((issue) => {
      const issuePath = [...issue.path];
      if (issue.code === 'unrecognized_keys' && issue.keys.length > 0) issuePath.push(issue.keys[0]!);
      const offset = locate(doc.contents, issuePath);
      const line = offset === undefined ? null : lineCounter.linePos(offset).line;
      return { path: formatPath(issuePath), line, message: issue.message };
    });
    const detail = issues
      .map((issue) => `${issue.line ? `line ${issue.line}: ` : ''}${issue.path}: ${issue.message}`)
      .join('; ');
    throw new GovernedConfigError('ERR_GOVERNED_CONFIG_INVALID', `${source}: ${detail}`, {
      cause: parsed.error,
      issues,
    });
  }
  return resolveConfig(parsed.data);
}

/**
 * Reads and parses the config file (OPENEXEC_ACTIONS_FILE): `.json`, or `.yaml` / `.yml`.
 * Error messages name the file.
 */
export async function readGovernedConfig(file: string): Promise<GovernedConfig> {
  const extension = path.extname(file).toLowerCase();
  const format =
    extension === '.json' ? 'json' : extension === '.yaml' || extension === '.yml' ? 'yaml' : null;
  if (!format) {
    throw new GovernedConfigError(
      'ERR_GOVERNED_CONFIG_INVALID',
      `${file}: the governed actions file must end in .json, .yaml or .yml`,
    );
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new GovernedConfigError('ERR_GOVERNED_CONFIG_INVALID', `${file}: cannot be read`, { cause: error });
  }
  return parseGovernedConfig(text, format, { source: file });
}

function resolveConfig(config: ParsedConfig): GovernedConfig {
  const actions = config.actions.map((action): GovernedActionConfig => {
    const common = {
      name: action.name,
      description: action.description ?? null,
      sha256: action.sha256 ?? null,
      timeoutMs: action.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      isolation: action.isolation,
      readOnlyPaths: Object.freeze([...action.readOnlyPaths]),
    };
    if (action.kind === 'process') {
      return Object.freeze({
        ...common,
        kind: 'process',
        limits: resolveLimits(action.limits, DEFAULT_LIMITS.memoryBytes),
        executable: action.executable,
        fixedArgs: Object.freeze([...action.fixedArgs]),
        argv: Object.freeze({
          minPositional: action.argv.minPositional,
          maxPositional: action.argv.maxPositional,
          allowedValueFlags: Object.freeze([...action.argv.allowedValueFlags]),
          allowedFlags: Object.freeze([...action.argv.allowedFlags]),
          deniedFlags: Object.freeze([...action.argv.deniedFlags]),
        }),
        env: action.env ? Object.freeze({ allow: Object.freeze([...action.env.allow]) }) : null,
        cwd: action.cwd ? Object.freeze({ root: action.cwd.root, writable: action.cwd.writable }) : null,
      });
    }
    return Object.freeze({
      ...common,
      kind: 'code',
      limits: resolveLimits(
        action.limits,
        action.language === 'node' ? NODE_DEFAULT_MEMORY_BYTES : DEFAULT_LIMITS.memoryBytes,
      ),
      language: action.language,
      interpreter: action.interpreter,
      interpreterArgs: Object.freeze([...action.interpreterArgs]),
      outputFiles: action.outputFiles
        ? Object.freeze({
            extensions: Object.freeze(action.outputFiles.extensions.map((ext) => ext.toLowerCase())),
            maxFileBytes: action.outputFiles.maxFileBytes,
            maxTotalBytes: action.outputFiles.maxTotalBytes,
            maxFiles: action.outputFiles.maxFiles,
          })
        : null,
    });
  });
  return Object.freeze({
    runAs: config.runAs ? Object.freeze({ ...config.runAs }) : null,
    actions: Object.freeze(actions),
  });
}

function resolveLimits(
  limits: z.output<typeof limitsSchema> | undefined,
  memoryDefault: number,
): Readonly<ResourceLimits> {
  const resolved: ResourceLimits = { ...DEFAULT_LIMITS, memoryBytes: memoryDefault };
  for (const [key, value] of Object.entries(limits ?? {})) {
    if (value !== undefined) resolved[key as keyof ResourceLimits] = value;
  }
  return Object.freeze(resolved);
}

/** Offset of the node an issue path points at, or of its deepest existing ancestor. */
function locate(root: unknown, issuePath: readonly PropertyKey[]): number | undefined {
  let node: unknown = root;
  let offset = rangeStart(node);
  for (const segment of issuePath) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isPair(item) && isScalar(item.key) && item.key.value === segment,
      );
      if (!pair) break;
      offset = rangeStart(pair.key) ?? offset;
      node = pair.value;
      offset = rangeStart(node) ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      if (node === undefined) break;
      offset = rangeStart(node) ?? offset;
    } else {
      break;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return Array.isArray(range) ? range[0] : undefined;
}

function formatPath(issuePath: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of issuePath) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else out += out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out === '' ? '(root)' : out;
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0] ?? message;
}
