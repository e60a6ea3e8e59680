import { parseKeySet } from '@openexec/approval-verifier';
import { describe, expect, it } from 'vitest';
import { inspectApproval } from './inspect.js';
import { generateApproverKey, jwksOf } from './keys.js';
import { mintLegacy, mintV1 } from './mint.js';
import {
  FIXED_ID,
  FIXED_NOW,
  FIXED_PAYLOAD,
  fixedApprover,
  TENANT,
  TEST_KID,
  TEST_PUBLIC_KEY_PEM,
} from './test-support/fixtures.js';

const keys = parseKeySet({ pem: TEST_PUBLIC_KEY_PEM });
const otherKeys = parseKeySet({ jwks: JSON.stringify(jwksOf(generateApproverKey())) });
const v1 = mintV1(fixedApprover(), { action: 'echo', payload: FIXED_PAYLOAD, nonce: 'n-1' }).artifact;
const legacy = mintLegacy(fixedApprover(), { action: 'echo', payload: FIXED_PAYLOAD }).artifact;
const at = (offsetSeconds: number) => new Date(FIXED_NOW.getTime() + offsetSeconds * 1000);

describe('inspectApproval', () => {
  describe('given a v1 token', () => {
    it('reports header, claims, what it binds and the expiry', () => {
      const report = inspectApproval(v1, { now: at(100) });
      expect(report).toMatchObject({
        format: 'v1',
        header: { alg: 'EdDSA', typ: 'openexec-approval+jwt', kid: TEST_KID },
        approvalId: FIXED_ID,
        issuer: 'mock:clawshield-mock',
        mockIssuer: true,
        tenant: TENANT,
        action: 'echo',
        nonce: 'n-1',
        maxUses: 1,
        binds: { kind: 'pdg', value: 'dDQ3EU5d_HsTu4ZsfvRBtPuIZ0I6Sz2vzWtRw5WkTO4' },
        issuedAt: '2026-05-10T12:00:00.000Z',
        expiresAt: '2026-05-10T12:05:00.000Z',
        expired: false,
        secondsLeft: 199,
        signature: { status: 'not_checked' },
      });
    });

    it('says expired once past exp', () => {
      expect(inspectApproval(v1, { now: at(301) })).toMatchObject({ expired: true, secondsLeft: -1 });
    });

    it('reports a valid signature with the kid that verified it', () => {
      expect(inspectApproval(v1, { keys }).signature).toEqual({ status: 'valid', kid: TEST_KID });
    });

    it('reports an unknown kid against another key set', () => {
      expect(inspectApproval(v1, { keys: otherKeys }).signature).toEqual({
        status: 'invalid',
        reason: `no key with kid "${TEST_KID}"`,
      });
    });

    it('reports a tampered token as not verifying', () => {
      const [h, c, s] = v1.split('.') as [string, string, string];
      const claims = JSON.parse(Buffer.from(c, 'base64url').toString());
      const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, act: 'add' })).toString('base64url')}.${s}`;
      expect(inspectApproval(forged, { keys }).signature).toEqual({
        status: 'invalid',
        reason: 'signature does not verify',
      });
    });

    it('compares the bound payload and action with a given request', () => {
      expect(inspectApproval(v1, { action: 'echo', payload: FIXED_PAYLOAD }).payloadMatches).toBe(true);
      expect(inspectApproval(v1, { action: 'echo', payload: { msg: 'other' } }).payloadMatches).toBe(false);
      expect(inspectApproval(v1, { action: 'add', payload: FIXED_PAYLOAD }).payloadMatches).toBe(false);
    });
  });

  describe('given a legacy artifact', () => {
    it('accepts the object or its JSON text and reports the action hash and naive UTC times', () => {
      for (const input of [legacy, JSON.stringify(legacy)]) {
        expect(inspectApproval(input, { now: at(0), keys })).toMatchObject({
          format: 'legacy',
          header: null,
          approvalId: FIXED_ID,
          issuer: 'mock:clawshield-mock',
          mockIssuer: true,
          tenant: TENANT,
          action: null,
          maxUses: 1,
          binds: {
            kind: 'action_hash',
            value: 'f826c85cc0c2dccb0d98c0d076ee7b0e0fd9dfa8e7371616d3add859b80829e5',
          },
          issuedAt: '2026-05-10T12:00:00.123Z',
          expiresAt: '2026-05-10T12:05:00.123Z',
          expired: false,
          signature: { status: 'valid', kid: TEST_KID },
        });
      }
    });

    it('reports a changed tenant as not verifying with any key', () => {
      expect(inspectApproval({ ...legacy, tenant_id: 'other' }, { keys }).signature).toEqual({
        status: 'invalid',
        reason: 'signature does not verify with any key',
      });
    });

    it('needs the action to compare a payload (the hash covers both)', () => {
      expect(inspectApproval(legacy, { action: 'echo', payload: FIXED_PAYLOAD }).payloadMatches).toBe(true);
      expect(inspectApproval(legacy, { payload: FIXED_PAYLOAD }).payloadMatches).toBe(false);
    });
  });

  describe('given something else', () => {
    it.each([
      ['not-a-token', 'a v1 approval has three dot-separated segments'],
      ['a.b.c', 'header is not JSON'],
      ['{"approval_id":', 'legacy approval is not JSON'],
      [42, 'expected a v1 token or a legacy approval object'],
    ])('rejects %j with ERR_MOCK_INVALID_INPUT', (input, message) => {
      expect(() => inspectApproval(input)).toThrow(
        expect.objectContaining({ code: 'ERR_MOCK_INVALID_INPUT', message }),
      );
    });
  });
});
