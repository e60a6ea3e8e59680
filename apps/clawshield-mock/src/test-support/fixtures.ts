/**
 * Fixed inputs for reproducible artifacts. The expected values in the tests were computed
 * independently with CPython 3.11 + `cryptography` (legacy: the `mint_approval_artifact` code
 * of clawshield_client.py; v1: json.dumps + Ed25519 by hand), not with this package.
 * NEVER use this key for anything but tests: it is published in this file.
 */
import { approverKeyFromPem } from '../keys.js';
import { type Approver, createApprover } from '../mint.js';

export const TEST_PRIVATE_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEII/uE2DbzB3Dxmbp1X9dGwdrIdMsahLSeFAbKJhLlgq6
-----END PRIVATE KEY-----
`;
export const TEST_PUBLIC_KEY_PEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA3cejEArMGR0t+Qnjv0bGrq7LZTEU7b3Qn2Ck4mmSatk=
-----END PUBLIC KEY-----
`;
export const TEST_X = '3cejEArMGR0t-Qnjv0bGrq7LZTEU7b3Qn2Ck4mmSatk';
/** RFC 7638 thumbprint of the test key. */
export const TEST_KID = 'tdWXTZ7RIhZlQbXnZ_h0jLQoDA7io2jPSRWjp5cc5P0';

export const FIXED_ID = '0f8fad5b-d9cb-469f-a165-70867728950e';
/** 2026-05-10T12:00:00.123Z: a clock with milliseconds, so Python prints microseconds. */
export const FIXED_NOW = new Date('2026-05-10T12:00:00.123Z');
export const TENANT = 'tenant-001';

/** Non-ASCII (Latin-1, BMP symbol, astral emoji), unsorted keys, a float, a null. */
export const FIXED_PAYLOAD = {
  msg: 'h\u00e9llo w\u00f6rld \u2713 \u{1F600}',
  n: 1,
  nested: { b: [1, 2.5, '\u00fc'], a: null },
};

export const testKey = () => approverKeyFromPem(TEST_PRIVATE_KEY_PEM);

export function fixedApprover(now: Date = FIXED_NOW, tenant = TENANT): Approver {
  return createApprover({ key: testKey(), tenant, now: () => now, newId: () => FIXED_ID });
}
