import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecutionStore } from './store.js';
import { openExecutionStore } from './store.js';
import { PG_URL, postgresDatabase, type TestDatabase } from './test-support/databases.js';
import { testSealer } from './test-support/sealer.js';

/**
 * A TCP proxy in front of PostgreSQL that, once armed, forwards the next COMMIT (or another
 * statement that commits by itself) and then cuts the connection before the server's answer
 * reaches the store: the transaction is committed, and the store only sees a broken connection.
 */
async function commitAnswerDropper(target: URL) {
  let armed: string | null = null;
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const server = net.connect(Number(target.port || 5432), target.hostname);
    let dropping = false;
    for (const socket of [client, server]) {
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    }
    client.on('data', (data) => {
      server.write(data);
      if (armed && data.includes(armed)) {
        armed = null;
        dropping = true;
        dropped++;
        // Long enough for the server to commit; its answer is never passed on.
        setTimeout(() => {
          client.destroy();
          server.destroy();
        }, 200);
      }
    });
    server.on('data', (data) => {
      if (!dropping) client.write(data);
    });
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.host = `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
  return {
    url: url.toString(),
    /** A single statement outside a transaction commits by itself: arm on its text. */
    arm: (statement = 'COMMIT') => {
      armed = statement;
    },
    dropped: () => dropped,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    },
  };
}

describe.skipIf(!PG_URL)('a PostgreSQL commit whose answer is lost', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('answers the committed batch as committed: no second receipt, no second approval use, the chain goes on', async () => {
    const database: TestDatabase = await postgresDatabase();
    cleanups.push(() => database.drop());
    const dropper = await commitAnswerDropper(new URL(database.url));
    cleanups.push(() => dropper.close());
    const store: ExecutionStore = await openExecutionStore({
      url: dropper.url,
      owner: 'p1',
      leaseMs: 60_000,
      receipts: testSealer('p1'),
    });
    cleanups.push(() => store.close());
    const request = (nonce: string, approval: { id: string } | null = null) => ({
      tenant: 't',
      nonce,
      action: 'echo',
      requestDigest: `d-${nonce}`,
      payload: null,
      approval: approval && { ...approval, issuer: 'i', maxUses: 5, expiresAt: Date.now() + 600_000 },
    });
    const first = await store.reserve(request('n-0'));
    if (first.kind !== 'reserved') throw new Error('expected a reservation');
    const completion = {
      id: first.execution.id,
      state: 'succeeded' as const,
      resultDigest: 'r',
      errorCode: null,
      responseStatus: 200,
      responseBody: '{"ok":true}',
      receipt: { executionId: first.execution.id, outcome: 'succeeded', fields: { n: 0 } },
    };
    const approvalId = randomUUID();

    dropper.arm();
    // One batch: a completion (with its receipt), a reservation, a reservation with an approval.
    const [completed, plain, approved] = await Promise.all([
      store.complete(completion),
      store.reserve(request('n-1')),
      store.reserve(request('n-2', { id: approvalId })),
    ]);
    expect(dropper.dropped()).toBe(1);

    expect(completed).toMatchObject({ applied: true, receipt: { seq: 1 } });
    expect(plain.kind).toBe('reserved');
    expect(approved.kind).toBe('reserved');
    expect(await store.receiptsOfExecution(first.execution.id)).toEqual([completed.receipt?.body]);
    expect((await store.lookup('t', 'n-0'))?.receipt).toBe(completed.receipt?.body);

    // The approval's one use was counted once: four more are left, not three.
    const more = await Promise.all(
      [3, 4, 5, 6, 7].map((i) => store.reserve(request(`n-${i}`, { id: approvalId }))),
    );
    expect(more.map((result) => result.kind).sort()).toEqual([
      'approval_exhausted',
      'reserved',
      'reserved',
      'reserved',
      'reserved',
    ]);

    // The chain continues from what was stored, without a gap.
    const next = await store.record({ executionId: null, outcome: 'approval_denied', fields: { n: 8 } });
    expect(next.seq).toBe(2);
    expect((await store.receiptPage('p1', 1, 10, 10)).map((row) => row.seq)).toEqual([1, 2]);
  });
  async function openBehindDropper(options: { leaseMs?: number; now?: () => number } = {}) {
    const database: TestDatabase = await postgresDatabase();
    cleanups.push(() => database.drop());
    const dropper = await commitAnswerDropper(new URL(database.url));
    cleanups.push(() => dropper.close());
    const store = await openExecutionStore({
      url: dropper.url,
      owner: 'p1',
      leaseMs: options.leaseMs ?? 60_000,
      receipts: testSealer('p1'),
      ...(options.now ? { now: options.now } : {}),
    });
    cleanups.push(() => store.close());
    return { store, dropper };
  }

  it('answers a lone reservation whose commit answer was lost as its own, its approval used once', async () => {
    const { store, dropper } = await openBehindDropper();
    const approval = { id: randomUUID(), issuer: 'i', maxUses: 1, expiresAt: Date.now() + 600_000 };
    const request = (nonce: string) => ({
      tenant: 't',
      nonce,
      action: 'echo',
      requestDigest: `d-${nonce}`,
      payload: null,
      approval,
    });
    dropper.arm();
    const reserved = await store.reserve(request('n-1'));
    expect(dropper.dropped()).toBe(1);
    if (reserved.kind !== 'reserved') throw new Error(`expected a reservation, got ${reserved.kind}`);
    expect((await store.lookup('t', 'n-1'))?.id).toBe(reserved.execution.id);
    expect(await store.reserve(request('n-2'))).toMatchObject({ kind: 'approval_exhausted' });
  });

  it('stores a refusal receipt whose commit answer was lost once, and the chain goes on', async () => {
    const { store, dropper } = await openBehindDropper();
    dropper.arm('INSERT INTO "receipts"');
    const refused = await store.record({ executionId: null, outcome: 'approval_denied', fields: { n: 1 } });
    expect(dropper.dropped()).toBe(1);
    expect(refused.seq).toBe(1);
    const next = await store.record({ executionId: null, outcome: 'approval_denied', fields: { n: 2 } });
    expect(next.seq).toBe(2);
    expect(await store.receiptPage('p1', 1, 10, 10)).toEqual([
      { seq: 1, body: refused.body },
      { seq: 2, body: next.body },
    ]);
  });

  it('stores the receipt of a completion that came after an operator resolved its execution once', async () => {
    let now = Date.now();
    const { store, dropper } = await openBehindDropper({ leaseMs: 1_000, now: () => now });
    const reserved = await store.reserve({
      tenant: 't',
      nonce: 'slow',
      action: 'echo',
      requestDigest: 'd',
      payload: null,
    });
    if (reserved.kind !== 'reserved') throw new Error('expected a reservation');
    now += 1_001;
    expect(await store.expireLeases()).toBe(1);
    await store.resolve({
      tenant: 't',
      nonce: 'slow',
      state: 'failed',
      operator: 'ops',
      responseStatus: 409,
      responseBody: '{}',
    });
    dropper.arm();
    const late = await store.complete({
      id: reserved.execution.id,
      state: 'succeeded',
      resultDigest: 'r',
      errorCode: null,
      responseStatus: 200,
      responseBody: '{"ok":true}',
      receipt: { executionId: reserved.execution.id, outcome: 'succeeded', fields: { late: true } },
    });
    expect(dropper.dropped()).toBe(1);
    expect(late).toMatchObject({ applied: false, receipt: { seq: 1 } });
    expect(await store.receiptsOfExecution(reserved.execution.id)).toEqual([late.receipt?.body]);
    expect((await store.lookup('t', 'slow'))?.state).toBe('failed');
  });
});
