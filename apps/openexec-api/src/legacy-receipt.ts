import { hash, timingSafeEqual } from 'node:crypto';
import { pythonJsonDumps } from '@openexec/approval-verifier';

/**
 * The Python service's receipt: hex SHA-256 of `"{id}:{json.dumps(result, sort_keys=True)}"`.
 * Kept byte-exact for old clients. It is a checksum anyone can compute, not evidence: the
 * signed receipt is the evidence.
 */
export function legacyReceipt(executionId: string, resultJson: string): string {
  return hash('sha256', `${executionId}:${resultJson}`, 'hex');
}

/** `json.dumps(result, sort_keys=True)` with Python's default separators. */
export function pythonResultJson(result: unknown): string {
  return pythonJsonDumps(result, { sortKeys: true });
}

export function verifyLegacyReceipt(executionId: string, resultJson: string, receipt: string): boolean {
  const expected = Buffer.from(legacyReceipt(executionId, resultJson), 'utf8');
  const given = Buffer.from(receipt, 'utf8');
  return expected.length === given.length && timingSafeEqual(expected, given);
}
