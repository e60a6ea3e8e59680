import { describe, expect, it } from 'vitest';
import * as api from './index.js';

describe('the public surface of clawshield-mock', () => {
  it('exports exactly these values (a change here is a change of the package API)', () => {
    expect(Object.keys(api).sort()).toEqual([
      'ApprovalQueue',
      'DEV_ONLY_WARNING',
      'HTTP_STATUS',
      'KEY_FILE_NAMES',
      'LOOPBACK_HOSTS',
      'MOCK_ERROR_CODES',
      'MOCK_ISSUER_PREFIX',
      'MockError',
      'approverKeyFromPem',
      'assertServeAllowed',
      'createApprover',
      'createMockApp',
      'ed25519Thumbprint',
      'generateApproverKey',
      'inspectApproval',
      'isLoopbackHost',
      'jwksOf',
      'mintApproval',
      'mintLegacy',
      'mintV1',
      'privateKeyPem',
      'pythonUtcIsoformat',
      'readApproverKeyFile',
      'runCli',
      'startMockServer',
      'writeKeyFiles',
    ]);
  });

  it('names the mock issuer prefix openexec-api refuses by default', () => {
    expect(api.MOCK_ISSUER_PREFIX).toBe('mock:');
  });
});
