export type {
  ArgvProfile,
  CodeActionConfig,
  GovernedActionConfig,
  GovernedConfig,
  GovernedConfigInput,
  OutputFilesConfig,
  ParseGovernedConfigOptions,
  ProcessActionConfig,
  ResourceLimits,
  RunAs,
} from './config.js';
export {
  DEFAULT_LIMITS,
  DEFAULT_RUN_AS,
  DEFAULT_TIMEOUT_MS,
  isForbiddenEnvName,
  NODE_DEFAULT_MEMORY_BYTES,
  parseGovernedConfig,
  readGovernedConfig,
} from './config.js';
export type {
  GovernedConfigErrorCode,
  GovernedConfigIssue,
  GovernedInputErrorCode,
  GovernedRunErrorCode,
} from './errors.js';
export {
  BinaryChangedError,
  GOVERNED_INPUT_ERROR_CODES,
  GovernedConfigError,
  GovernedInputError,
  GovernedRunError,
  SandboxUnavailableError,
} from './errors.js';
export type { OutputFile } from './files.js';
export type {
  CodeInput,
  GovernedInputValidation,
  GovernedOutput,
  LoadGovernedOptions,
  ProcessInput,
} from './handlers.js';
export {
  describeRun,
  GOVERNED_INPUT_LIMITS,
  governedOutputSchema,
  loadGovernedHandlers,
  validateGovernedInput,
} from './handlers.js';
export type { Isolation, SandboxProbeOptions, SandboxProbeResult, SandboxTools } from './sandbox.js';
export { DEFAULT_SANDBOX_TOOLS, probeSandbox } from './sandbox.js';
