import { describe, expect, it } from 'vitest';
import { parseCheckpoint, parseReceipt, parseReceiptBody, ReceiptError } from './index.js';
import { clone, makeChain } from './test-support/chain.js';

const { receipts, signer, chainId } = makeChain(2);
const valid = receipts[1]!;

function withField(field: string, value: unknown): Record<string, unknown> {
  const copy = clone(valid) as unknown as Record<string, unknown>;
  if (value === undefined) delete copy[field];
  else copy[field] = value;
  return copy;
}

describe('parseReceipt', () => {
  it('returns a well-formed receipt unchanged', () => {
    expect(parseReceipt(clone(valid))).toEqual(valid);
  });

  it.each([
    ['v', 'openexec-receipt/2', 'must be "openexec-receipt/1"'],
    ['chain', '', 'must not be empty'],
    ['seq', 0, 'must be an integer >= 1'],
    ['seq', 1.5, 'must be an integer >= 1'],
    ['seq', '2', 'must be an integer >= 1'],
    ['prev', 'ABC', 'must be 64 lower-case hex digits'],
    ['exec_id', undefined, 'missing (use null for none)'],
    ['exec_id', 7, 'must be a string'],
    ['tenant', null, 'must be a string'],
    ['nonce', '', 'must not be empty'],
    ['action', undefined, 'must be a string (missing)'],
    ['request_digest', ['x'], 'must be a string (got an array)'],
    ['approval', 'appr-1', 'must be a JSON object'],
    ['mode', 'prod', 'must be one of demo, clawshield'],
    ['outcome', 'ok', 'must be one of succeeded, failed, approval_denied, replay_denied, indeterminate'],
    ['result_digest', false, 'must be a string'],
    ['error_code', 1, 'must be a string'],
    ['isolation', {}, 'must be a string'],
    ['run', 'x', 'must be a JSON object'],

    ['created_at', '2025-01-01T00:00:00Z', 'must be an RFC 3339 UTC timestamp with milliseconds'],
    ['created_at', '2025-02-30T00:00:00.000Z', 'must be an RFC 3339 UTC timestamp with milliseconds'],
    ['created_at', '2025-01-01T00:00:00.000+01:00', 'must be an RFC 3339 UTC timestamp with milliseconds'],
    ['signer_kid', '', 'must not be empty'],
    ['sig', 'AAAA', 'must encode 64 bytes'],
    ['sig', `${valid.sig}=`, 'must be unpadded, canonical base64url'],
    ['extra', 'x', 'is not a known field'],
    ['__proto__', { polluted: true }, 'is not a known field'],
  ])('names field %s when it is %j', (field, value, message) => {
    const input =
      field === '__proto__'
        ? JSON.parse(`{${JSON.stringify(valid).slice(1, -1)},"__proto__":{}}`)
        : withField(field, value);
    expect(() => parseReceipt(input)).toThrow(
      expect.objectContaining({
        code: 'ERR_RECEIPT_MALFORMED',
        field,
        message: expect.stringContaining(message),
      }),
    );
  });

  it.each([
    ['approval.id', { issuer: 'x', kid: null }, 'missing'],
    ['approval.kid', { id: 'a', issuer: 'x' }, 'missing (use null for none)'],
    ['approval.extra', { id: 'a', issuer: 'x', kid: null, extra: 1 }, 'is not a known field'],
  ])('names nested field %s', (field, approval, message) => {
    expect(() => parseReceipt(withField('approval', approval))).toThrow(
      expect.objectContaining({
        code: 'ERR_RECEIPT_MALFORMED',
        field,
        message: expect.stringContaining(message),
      }),
    );
  });

  it('accepts approval null and strings in nullable fields', () => {
    expect(
      parseReceipt({ ...clone(valid), approval: null, error_code: 'E_X', isolation: 'bwrap' }).approval,
    ).toBeNull();
  });

  it('rejects a value that is not an object', () => {
    expect(() => parseReceipt([valid])).toThrow(
      expect.objectContaining({
        code: 'ERR_RECEIPT_MALFORMED',
        message: 'receipt: must be a JSON object (got an array)',
      }),
    );
  });

  it('throws ReceiptError instances', () => {
    expect(() => parseReceipt(null)).toThrow(ReceiptError);
  });
});

describe('parseReceiptBody', () => {
  it('rejects a sig on an unsigned body', () => {
    expect(() => parseReceiptBody(clone(valid))).toThrow(
      expect.objectContaining({ code: 'ERR_RECEIPT_MALFORMED', field: 'sig' }),
    );
  });
});

describe('parseCheckpoint', () => {
  const checkpoint = signer.signCheckpoint({ chain: chainId, seq: 2, head: 'a'.repeat(64) });

  it('returns a well-formed checkpoint', () => {
    expect(parseCheckpoint(clone(checkpoint))).toEqual(checkpoint);
  });

  it('names the bad field with ERR_CHECKPOINT_MALFORMED', () => {
    expect(() => parseCheckpoint({ ...checkpoint, head: 'x' })).toThrow(
      expect.objectContaining({ code: 'ERR_CHECKPOINT_MALFORMED', field: 'head' }),
    );
  });
});

describe('the run object', () => {
  it('names the nested field that is wrong', () => {
    const bad = {
      ...clone(receipts[0]),
      run: { exit_code: 1.5, signal: null, duration_ms: 1, max_rss_kib: null, cpu_ms: null },
    };
    expect(() => parseReceipt(bad)).toThrow(
      expect.objectContaining({ code: 'ERR_RECEIPT_MALFORMED', field: 'run.exit_code' }),
    );
  });
});
