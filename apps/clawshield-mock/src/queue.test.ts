import { describe, expect, it } from 'vitest';
import { ApprovalQueue } from './queue.js';
import { FIXED_NOW, fixedApprover } from './test-support/fixtures.js';

let n = 0;
const queue = (maxRequests?: number) =>
  new ApprovalQueue(fixedApprover(), {
    ...(maxRequests === undefined ? {} : { maxRequests }),
    newId: () => `req-${++n}`,
  });

describe('ApprovalQueue', () => {
  it('keeps a submitted request pending with its action, payload, nonce and reason', () => {
    const q = queue();
    const record = q.submit({ action: 'echo', payload: { a: 1 }, nonce: 'n', reason: 'why' });
    expect(record).toMatchObject({
      status: 'pending',
      action: 'echo',
      payload: { a: 1 },
      nonce: 'n',
      reason: 'why',
      created_at: FIXED_NOW.toISOString(),
      decided_at: null,
      artifact: null,
    });
    expect(q.get(record.id)).toEqual(record);
  });

  it('approving mints a v1 artifact bound to the requested nonce', () => {
    const q = queue();
    const { id } = q.submit({ action: 'echo', payload: { a: 1 }, nonce: 'n-9' });
    const approved = q.approve(id);
    expect(approved).toMatchObject({ status: 'approved', format: 'v1', claims: { act: 'echo', non: 'n-9' } });
    expect(typeof approved.artifact).toBe('string');
  });

  it('approving in the legacy format mints an unbound legacy artifact', () => {
    const q = queue();
    const { id } = q.submit({ action: 'echo', nonce: 'n-9' });
    const approved = q.approve(id, { format: 'legacy' });
    expect(approved).toMatchObject({
      status: 'approved',
      format: 'legacy',
      artifact: { tenant_id: 'tenant-001' },
    });
  });

  it('refuses a second decision with ERR_MOCK_NOT_PENDING', () => {
    const q = queue();
    const { id } = q.submit({ action: 'echo' });
    q.deny(id);
    expect(() => q.approve(id)).toThrow(
      expect.objectContaining({ code: 'ERR_MOCK_NOT_PENDING', message: 'request is already denied' }),
    );
  });

  it('refuses an unknown id with ERR_MOCK_NOT_FOUND', () => {
    expect(() => queue().get('nope')).toThrow(
      expect.objectContaining({ code: 'ERR_MOCK_NOT_FOUND', message: 'no such request' }),
    );
  });

  it('lists newest first, filtered by status, and hands out copies', () => {
    const q = queue();
    const a = q.submit({ action: 'a' });
    const b = q.submit({ action: 'b' });
    q.deny(a.id);
    expect(q.list().map((r) => r.id)).toEqual([b.id, a.id]);
    expect(q.list({ status: 'pending' }).map((r) => r.id)).toEqual([b.id]);
    const copy = q.get(b.id);
    copy.status = 'approved';
    expect(q.get(b.id).status).toBe('pending');
  });

  it('when full, drops the oldest decided request, and refuses when all are pending', () => {
    const q = queue(2);
    const a = q.submit({ action: 'a' });
    q.submit({ action: 'b' });
    q.deny(a.id);
    q.submit({ action: 'c' });
    expect(q.list().map((r) => r.action)).toEqual(['c', 'b']);
    expect(() => q.submit({ action: 'd' })).toThrow(
      expect.objectContaining({ code: 'ERR_MOCK_QUEUE_FULL', message: 'the queue holds 2 pending requests' }),
    );
  });
});
