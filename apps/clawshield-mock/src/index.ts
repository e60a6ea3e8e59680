export type { MockErrorCode } from './errors.js';
export { MOCK_ERROR_CODES, MockError } from './errors.js';
export type { HttpErrorCode, MockAppOptions } from './http.js';
export { createMockApp, HTTP_STATUS } from './http.js';
export type { InspectOptions, InspectReport, SignatureCheck } from './inspect.js';
export { inspectApproval } from './inspect.js';
export type { ApproverKey, KeyFiles, PublicJwk } from './keys.js';
export {
  approverKeyFromPem,
  ed25519Thumbprint,
  generateApproverKey,
  jwksOf,
  KEY_FILE_NAMES,
  privateKeyPem,
  readApproverKeyFile,
  writeKeyFiles,
} from './keys.js';
export type {
  ApprovalFormat,
  ApprovalSpec,
  Approver,
  ApproverOptions,
  LegacyArtifact,
  Minted,
  MintedLegacy,
  MintedV1,
  V1Claims,
  V1Header,
} from './mint.js';
export {
  createApprover,
  MOCK_ISSUER_PREFIX,
  mintApproval,
  mintLegacy,
  mintV1,
  pythonUtcIsoformat,
} from './mint.js';
export type {
  ApprovalRequestRecord,
  ApproveOptions,
  NewApprovalRequest,
  QueueOptions,
  RequestStatus,
} from './queue.js';
export { ApprovalQueue } from './queue.js';
export type { CliIo, CliResult } from './run-cli.js';
export { runCli } from './run-cli.js';
export { assertServeAllowed, DEV_ONLY_WARNING, isLoopbackHost, LOOPBACK_HOSTS } from './safety.js';
export type { RunningMock, ServeOptions } from './serve.js';
export { startMockServer } from './serve.js';
