import { describe, expect, it } from 'vitest';
import * as api from './index.js';

describe('the public surface', () => {
  it('exports exactly these runtime names (a new export must be added here on purpose)', () => {
    expect(Object.keys(api).sort()).toEqual([
      'APPROVAL_ERROR_CODES',
      'ApprovalError',
      'MAX_APPROVAL_USES',
      'V1_APPROVAL_TYP',
      'canonicalJson',
      'legacyActionHash',
      'legacySigningMessage',
      'parseKeySet',
      'payloadDigest',
      'pythonJsonDumps',
      'verifyApproval',
    ]);
  });

  it('lists every error code once', () => {
    expect(new Set(api.APPROVAL_ERROR_CODES).size).toBe(14);
    expect(Object.isFrozen(api.APPROVAL_ERROR_CODES)).toBe(true);
  });

  it('builds ApprovalError with code and cause', () => {
    const cause = new Error('inner');
    const error = new api.ApprovalError('ERR_APPROVAL_EXPIRED', 'Approval artifact expired', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'ApprovalError', code: 'ERR_APPROVAL_EXPIRED', cause });
  });

  it('names the v1 typ', () => {
    expect(api.V1_APPROVAL_TYP).toBe('openexec-approval+jwt');
  });

  it('builds the legacy signing message as a plain UTF-8 concatenation', () => {
    const message = api.legacySigningMessage({
      approval_id: 'id',
      tenant_id: 't\u00e9',
      action_hash: 'h',
      issued_at: 'i',
      expires_at: 'e',
    });
    expect(message.equals(Buffer.from('idt\u00e9hie', 'utf8'))).toBe(true);
  });
});
