export { addHandler, builtinHandlers, echoHandler } from './builtins.js';
export type { Handler, HandlerContext, HandlerDefinition } from './define.js';
export { defineHandler } from './define.js';
export type { HandlerErrorCode } from './errors.js';
export { HandlerFailure, HandlerRegistryError } from './errors.js';
export type {
  ArgvProfile,
  CodeActionConfig,
  CodeInput,
  GovernedActionConfig,
  GovernedConfig,
  GovernedConfigErrorCode,
  GovernedConfigInput,
  GovernedConfigIssue,
  GovernedInputErrorCode,
  GovernedInputValidation,
  GovernedOutput,
  GovernedRunErrorCode,
  Isolation,
  LoadGovernedOptions,
  OutputFile,
  OutputFilesConfig,
  ParseGovernedConfigOptions,
  ProcessActionConfig,
  ProcessInput,
  ResourceLimits,
  RunAs,
  SandboxProbeOptions,
  SandboxProbeResult,
  SandboxTools,
} from './governed/index.js';
export {
  BinaryChangedError,
  DEFAULT_LIMITS,
  DEFAULT_SANDBOX_TOOLS,
  describeRun,
  GOVERNED_INPUT_ERROR_CODES,
  GOVERNED_INPUT_LIMITS,
  GovernedConfigError,
  GovernedInputError,
  GovernedRunError,
  governedOutputSchema,
  loadGovernedHandlers,
  parseGovernedConfig,
  probeSandbox,
  readGovernedConfig,
  SandboxUnavailableError,
  validateGovernedInput,
} from './governed/index.js';
export type { ActionDescription, CreateRegistryOptions, HandlerRegistry } from './registry.js';
export { createRegistry } from './registry.js';
export type { HandlerFailureCode, HandlerOutcome, RunHandlerOptions } from './run.js';
export { runHandler } from './run.js';
