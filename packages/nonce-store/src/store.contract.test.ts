import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ExecutionStore, ExecutionStoreOptions } from './store.js';
import { openExecutionStore } from './store.js';
import { backends, type TestDatabase } from './test-support/databases.js';
import { testSealer } from './test-support/sealer.js';
import type { ReserveRequest } from './types.js';

const execFileAsync = promisify(execFile);

function request(nonce: string, overrides: Partial<ReserveRequest> = {}): ReserveRequest {
  return {
    tenant: 'tenant-a',
    nonce,
    action: 'echo',
    requestDigest: 'digest-1',
    payload: '{"msg":"hi"}',
    ...overrides,
  };
}

for (const backend of backends) {
  describe.skipIf(backend.skip)(`ExecutionStore on ${backend.name}`, () => {
    let database: TestDatabase;
    const stores: ExecutionStore[] = [];
    const open = async (overrides: Partial<ExecutionStoreOptions> = {}) => {
      const store = await openExecutionStore({
        url: database.url,
        owner: 'owner-1',
        leaseMs: 60_000,
        ...overrides,
      });
      stores.push(store);
      return store;
    };

    beforeEach(async () => {
      database = await backend.create();
    });
    afterEach(async () => {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      await database.drop();
    });

    it('reserves a fresh nonce and answers the next reservation with the existing record', async () => {
      const store = await open();
      const first = await store.reserve(request('n-1'));
      expect(first.kind).toBe('reserved');
      const second = await store.reserve(request('n-1'));
      expect(second).toMatchObject({ kind: 'existing', execution: { state: 'reserved', nonce: 'n-1' } });
      if (first.kind === 'reserved' && second.kind === 'existing')
        expect(second.execution.id).toBe(first.execution.id);
    });

    it('hands the winner of a reservation exactly the row it stored', async () => {
      const store = await open({ storePayloads: true });
      const approval = { id: randomUUID(), issuer: 'approver', maxUses: 2, expiresAt: Date.now() + 60_000 };
      const won = await store.reserve(request('n-stored', { approval }));
      expect(won.kind).toBe('reserved');
      if (won.kind !== 'reserved') return;
      expect(won.execution.id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(await store.lookup('tenant-a', 'n-stored')).toEqual(won.execution);
    });

    it('runs key registrations (interactive transactions) and batches side by side', async () => {
      const store = await open();
      const work: Array<Promise<unknown>> = [];
      for (let i = 0; i < 10; i++) {
        work.push(store.registerSigningKey({ kid: `kid-${i}`, chain: 'chain-1', publicJwk: '{}' }));
        for (let j = 0; j < 10; j++) {
          work.push(
            store.reserve(request(`n-${i}-${j}`)).then((result) => {
              if (result.kind !== 'reserved') throw new Error(`n-${i}-${j} was not reserved`);
              return store.complete({
                id: result.execution.id,
                state: 'succeeded',
                resultDigest: 'r',
                errorCode: null,
                responseStatus: 200,
                responseBody: '{}',
              });
            }),
          );
        }
      }
      await Promise.all(work);
      expect((await store.signingKeys()).map((key) => key.kid).sort()).toEqual(
        Array.from({ length: 10 }, (_, i) => `kid-${i}`).sort(),
      );
      for (let i = 0; i < 10; i++)
        for (let j = 0; j < 10; j++)
          expect(await store.lookup('tenant-a', `n-${i}-${j}`)).toMatchObject({ state: 'succeeded' });
    });

    it('keeps nonces of different tenants apart', async () => {
      const store = await open();
      expect((await store.reserve(request('n-1'))).kind).toBe('reserved');
      expect((await store.reserve(request('n-1', { tenant: 'tenant-b' }))).kind).toBe('reserved');
    });

    it('lets exactly one of 200 concurrent reservations of one nonce win', async () => {
      const store = await open();
      const results = await Promise.all(Array.from({ length: 200 }, () => store.reserve(request('race'))));
      const winners = results.filter((result) => result.kind === 'reserved');
      expect(winners).toHaveLength(1);
      const ids = new Set(
        results.map((result) => (result.kind === 'approval_exhausted' ? null : result.execution.id)),
      );
      expect(ids.size).toBe(1);
    });

    it('lets exactly one of two stores on one database win a raced nonce', async () => {
      const a = await open({ owner: 'a' });
      const b = await open({ owner: 'b' });
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).reserve(request('shared'))),
      );
      expect(results.filter((result) => result.kind === 'reserved')).toHaveLength(1);
    });

    it('consumes an approval at most max times across 50 concurrent nonces', async () => {
      const store = await open();
      const approval = { id: randomUUID(), issuer: 'approver', maxUses: 3, expiresAt: Date.now() + 60_000 };
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.reserve(request(`n-${i}`, { approval }))),
      );
      expect(results.filter((result) => result.kind === 'reserved')).toHaveLength(3);
      expect(results.filter((result) => result.kind === 'approval_exhausted')).toHaveLength(47);
    });

    it('leaves no reservation behind when the approval is used up', async () => {
      const store = await open();
      const approval = { id: 'approval-1', issuer: 'approver', maxUses: 1, expiresAt: Date.now() + 60_000 };
      expect((await store.reserve(request('first', { approval }))).kind).toBe('reserved');
      expect(await store.reserve(request('second', { approval }))).toMatchObject({
        kind: 'approval_exhausted',
        approvalId: 'approval-1',
      });
      expect(await store.lookup('tenant-a', 'second')).toBeNull();
      // The refused nonce is still free for a request with a fresh approval.
      const fresh = { ...approval, id: 'approval-2' };
      expect((await store.reserve(request('second', { approval: fresh }))).kind).toBe('reserved');
    });

    it("does not count another issuer's approval, or one with another max, into an approval id's uses", async () => {
      const store = await open();
      const approval = { id: 'shared-jti', issuer: 'approver-a', maxUses: 5, expiresAt: Date.now() + 60_000 };
      expect((await store.reserve(request('a-1', { approval }))).kind).toBe('reserved');
      // Same id from another approver, and the same approver's id re-issued with a larger max:
      // refused rather than allowed up to the first approval's max (or beyond it).
      for (const [nonce, other] of [
        ['b-1', { ...approval, issuer: 'approver-b', maxUses: 1 }],
        ['a-2', { ...approval, maxUses: 50 }],
      ] as const) {
        expect(await store.reserve(request(nonce, { approval: other }))).toMatchObject({
          kind: 'approval_exhausted',
          approvalId: 'shared-jti',
        });
        expect(await store.lookup('tenant-a', nonce)).toBeNull();
      }
      // The first approval keeps its own count: four uses left.
      const more = await Promise.all(
        [2, 3, 4, 5, 6].map((i) => store.reserve(request(`a-more-${i}`, { approval }))),
      );
      expect(more.filter((result) => result.kind === 'reserved')).toHaveLength(4);
    });

    it('answers two requests for one nonce in one batch whose approval is used up with two refusals', async () => {
      const store = await open();
      const approval = { id: randomUUID(), issuer: 'approver', maxUses: 1, expiresAt: Date.now() + 60_000 };
      expect((await store.reserve(request('used', { approval }))).kind).toBe('reserved');
      const fresh = { ...approval, id: randomUUID() };
      const [first, second, third] = await Promise.all([
        store.reserve(request('twice', { approval })),
        store.reserve(request('twice', { approval })),
        store.reserve(request('twice', { approval: fresh })),
      ]);
      expect([first.kind, second.kind]).toEqual(['approval_exhausted', 'approval_exhausted']);
      // The third request's own approval has its use left: it gets the nonce the others could not keep.
      expect(third.kind).toBe('reserved');
      expect((await store.lookup('tenant-a', 'twice'))?.approvalId).toBe(fresh.id);
    });

    it('does not consume the approval of a request whose nonce was already taken', async () => {
      const store = await open();
      const approval = { id: 'approval-x', issuer: 'approver', maxUses: 2, expiresAt: Date.now() + 60_000 };
      await store.reserve(request('n-1', { approval }));
      await store.reserve(request('n-1', { approval }));
      expect((await store.reserve(request('n-2', { approval }))).kind).toBe('reserved');
    });

    it('stores the outcome and returns it to later reservations of the nonce', async () => {
      const store = await open();
      const reserved = await store.reserve(request('n-1'));
      if (reserved.kind !== 'reserved') throw new Error('expected a reservation');
      const body = JSON.stringify({ id: reserved.execution.id, result: { echo: { msg: 'hi' } } });
      expect(
        await store.complete({
          id: reserved.execution.id,
          state: 'succeeded',
          resultDigest: 'r',
          errorCode: null,
          responseStatus: 200,
          responseBody: body,
        }),
      ).toEqual({ applied: true, receipt: null });
      const replay = await store.reserve(request('n-1'));
      expect(replay).toMatchObject({
        kind: 'existing',
        execution: { state: 'succeeded', responseStatus: 200, responseBody: body, resultDigest: 'r' },
      });
      expect(await store.lookup('tenant-a', 'n-1')).toMatchObject({ state: 'succeeded', responseBody: body });
    });

    it('refuses a completion from a process that does not own the reservation', async () => {
      const a = await open({ owner: 'a' });
      const b = await open({ owner: 'b' });
      const reserved = await a.reserve(request('n-1'));
      if (reserved.kind !== 'reserved') throw new Error('expected a reservation');
      const done = {
        id: reserved.execution.id,
        state: 'succeeded' as const,
        resultDigest: null,
        errorCode: null,
        responseStatus: 200,
        responseBody: '{}',
      };
      expect(await b.complete(done)).toEqual({ applied: false, receipt: null });
      expect(await a.complete(done)).toEqual({ applied: true, receipt: null });
      expect(await a.complete(done)).toEqual({ applied: false, receipt: null });
    });

    it('declares a reservation indeterminate when its lease runs out, and lets an operator resolve it', async () => {
      let now = Date.now();
      const store = await open({ leaseMs: 1_000, now: () => now });
      await store.reserve(request('slow'));
      expect(await store.expireLeases()).toBe(0);
      now += 1_001;
      expect(await store.expireLeases()).toBe(1);
      expect(await store.reserve(request('slow'))).toMatchObject({
        kind: 'existing',
        execution: { state: 'indeterminate' },
      });
      const resolved = await store.resolve({
        tenant: 'tenant-a',
        nonce: 'slow',
        state: 'failed',
        operator: 'ops@example',
        responseStatus: 409,
        responseBody: '{}',
      });
      expect(resolved).toMatchObject({ state: 'failed', errorCode: 'resolved_failed' });
      expect(
        await store.resolve({
          tenant: 'tenant-a',
          nonce: 'slow',
          state: 'failed',
          operator: 'x',
          responseStatus: 409,
          responseBody: '{}',
        }),
      ).toBeNull();
    });

    it('marks its own orphaned reservations indeterminate when it reopens after a crash', async () => {
      const crashed = await open({ owner: 'node-1' });
      await crashed.reserve(request('orphan'));
      const other = await open({ owner: 'node-2' });
      await other.reserve(request('not-mine'));
      const restarted = await open({ owner: 'node-1' });
      expect(await restarted.lookup('tenant-a', 'orphan')).toMatchObject({ state: 'indeterminate' });
      expect(await restarted.lookup('tenant-a', 'not-mine')).toMatchObject({ state: 'reserved' });
    });

    it('keeps payloads only when the operator opted in', async () => {
      const plain = await open();
      await plain.reserve(request('p-1'));
      const kept = await open({ owner: 'owner-2', storePayloads: true });
      await kept.reserve(request('p-2'));
      const rows = await plain.lookup('tenant-a', 'p-1');
      expect(rows).not.toBeNull();
      // lookup does not expose payloads; read them through a second store's raw view
      const { openDatabase } = await import('./database.js');
      const { parseDatabaseUrl } = await import('./url.js');
      const db = await openDatabase(parseDatabaseUrl(database.url), {
        busyTimeoutMs: 5_000,
        transactionTimeoutMs: 5_000,
        poolSize: 1,
      });
      const payloads = await db.raw.$queryRawUnsafe<Array<{ nonce: string; payload: string | null }>>(
        'SELECT "nonce", "payload" FROM "executions" ORDER BY "nonce"',
      );
      await db.close();
      expect(payloads).toEqual([
        { nonce: 'p-1', payload: null },
        { nonce: 'p-2', payload: '{"msg":"hi"}' },
      ]);
    });

    it('purges stored responses of old executions but keeps their nonces taken', async () => {
      let now = 1_000_000;
      const store = await open({ now: () => now, storePayloads: true });
      const reserved = await store.reserve(request('old'));
      if (reserved.kind !== 'reserved') throw new Error('expected a reservation');
      await store.complete({
        id: reserved.execution.id,
        state: 'succeeded',
        resultDigest: 'r',
        errorCode: null,
        responseStatus: 200,
        responseBody: '{"secret":1}',
      });
      const approval = { id: 'a-old', issuer: 'i', maxUses: 1, expiresAt: now + 1_000 };
      await store.reserve(request('with-approval', { approval }));
      now += 10_000;
      expect(
        await store.purge({ completedBefore: now - 5_000, approvalsExpiredBefore: now - 5_000 }),
      ).toEqual({ responsesCleared: 1, approvalsForgotten: 1 });
      expect(await store.lookup('tenant-a', 'old')).toMatchObject({
        state: 'succeeded',
        responseBody: null,
        resultDigest: 'r',
      });
      expect(await store.reserve(request('old'))).toMatchObject({ kind: 'existing' });
      expect(await store.purge({ completedBefore: now, approvalsExpiredBefore: now })).toEqual({
        responsesCleared: 0,
        approvalsForgotten: 0,
      });
    });

    it('lists indeterminate executions for the operator', async () => {
      const crashed = await open({ owner: 'gone' });
      await crashed.reserve(request('lost-1'));
      await crashed.reserve(request('lost-2'));
      const restarted = await open({ owner: 'gone' });
      expect((await restarted.listIndeterminate()).map((record) => record.nonce).sort()).toEqual([
        'lost-1',
        'lost-2',
      ]);
    });

    it('appends receipts gap-free, in the same transaction as each outcome, under concurrency', async () => {
      const store = await open({ receipts: testSealer('chain-a') });
      const reserved = await Promise.all(
        Array.from({ length: 60 }, (_, i) => store.reserve(request(`r-${i}`))),
      );
      const work = reserved.map((result, i) => {
        if (result.kind !== 'reserved') throw new Error('expected a reservation');
        return i % 3 === 0
          ? store.record({ executionId: null, outcome: 'replay_denied', fields: { i } })
          : store.complete({
              id: result.execution.id,
              state: 'succeeded',
              resultDigest: 'r',
              errorCode: null,
              responseStatus: 200,
              responseBody: '{}',
              receipt: { executionId: result.execution.id, outcome: 'succeeded', fields: { i } },
            });
      });
      await Promise.all(work);
      const page = await store.receiptPage('chain-a', 1, 1_000, 1_000);
      expect(page.map((row) => row.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      for (let i = 1; i < page.length; i++) {
        const prevHash = createHash('sha256')
          .update((page[i - 1] as { body: string }).body)
          .digest('hex');
        expect(JSON.parse((page[i] as { body: string }).body).prev).toBe(prevHash);
      }
      expect(store.chainHead()?.seq).toBe(60);
      const completed = await store.lookup('tenant-a', 'r-1');
      expect(completed?.receipt).toEqual(expect.stringContaining('"chain":"chain-a"'));
      expect(await store.receiptsOfExecution(completed?.id as string)).toEqual([completed?.receipt]);
      // A later reservation of the nonce (a replay) carries the outcome's receipt too.
      const replayed = await store.reserve(request('r-1'));
      expect(replayed).toMatchObject({ kind: 'existing', execution: { receipt: completed?.receipt } });
    });

    it('continues its chain after a restart and keeps chains of other processes apart', async () => {
      const first = await open({ owner: 'p1', receipts: testSealer('p1') });
      await first.record({ executionId: null, outcome: 'approval_denied', fields: 1 });
      await first.record({ executionId: null, outcome: 'approval_denied', fields: 2 });
      await first.close();
      const other = await open({ owner: 'p2', receipts: testSealer('p2') });
      await other.record({ executionId: null, outcome: 'approval_denied', fields: 3 });
      const again = await open({ owner: 'p1', receipts: testSealer('p1') });
      expect(again.chainHead()?.seq).toBe(2);
      expect((await again.record({ executionId: null, outcome: 'approval_denied', fields: 4 })).seq).toBe(3);
      expect((await again.chains()).map((c) => [c.chain, c.head.seq])).toEqual([
        ['p1', 3],
        ['p2', 1],
      ]);
    });

    it('continues its chain when the stored head moved past its own (another writer, or a commit whose answer was lost)', async () => {
      // Two stores of one instance id: each one's view of the head falls behind the other's
      // writes, as after a commit whose answer never arrived.
      const a = await open({ owner: 'p1', receipts: testSealer('p1') });
      const b = await open({ owner: 'p1', receipts: testSealer('p1') });
      await a.record({ executionId: null, outcome: 'approval_denied', fields: 1 });
      for (let i = 2; i <= 4; i++) {
        const reserved = await b.reserve(request(`moved-${i}`));
        if (reserved.kind !== 'reserved') throw new Error('expected a reservation');
        const completed = await b.complete({
          id: reserved.execution.id,
          state: 'succeeded',
          resultDigest: 'r',
          errorCode: null,
          responseStatus: 200,
          responseBody: '{}',
          receipt: { executionId: reserved.execution.id, outcome: 'succeeded', fields: { i } },
        });
        expect(completed).toMatchObject({ applied: true, receipt: { seq: i } });
      }
      expect((await a.record({ executionId: null, outcome: 'approval_denied', fields: 5 })).seq).toBe(5);
      const page = await a.receiptPage('p1', 1, 100, 100);
      expect(page.map((row) => row.seq)).toEqual([1, 2, 3, 4, 5]);
      for (let i = 1; i < page.length; i++) {
        const prevHash = createHash('sha256')
          .update((page[i - 1] as { body: string }).body)
          .digest('hex');
        expect(JSON.parse((page[i] as { body: string }).body).prev).toBe(prevHash);
      }
    });

    it("keeps checkpoints and retires a chain's previous signing key", async () => {
      const store = await open({ receipts: testSealer('c') });
      await store.saveCheckpoint({ chain: 'c', seq: 1, head: 'h1', body: '{"seq":1}' });
      await store.saveCheckpoint({ chain: 'c', seq: 5, head: 'h5', body: '{"seq":5}' });
      expect(await store.latestCheckpoint('c')).toEqual({ seq: 5, body: '{"seq":5}' });
      expect(await store.latestCheckpoint('none')).toBeNull();
      await store.registerSigningKey({ kid: 'k1', chain: 'c', publicJwk: '{}' });
      const keys = await store.registerSigningKey({ kid: 'k2', chain: 'c', publicJwk: '{}' });
      expect(keys.map((k) => [k.kid, k.notAfter === null])).toEqual([
        ['k1', false],
        ['k2', true],
      ]);
      expect((await store.registerSigningKey({ kid: 'k2', chain: 'c', publicJwk: '{}' })).length).toBe(2);
    });

    it('migrates once when three processes open a fresh database at the same time', async () => {
      const script = fileURLToPath(new URL('./test-support/open-store.ts', import.meta.url));
      const outputs = await Promise.all(
        ['a', 'b', 'c'].map((owner) =>
          execFileAsync(process.execPath, ['--import', 'tsx', script, database.url, owner], {
            timeout: 60_000,
          }),
        ),
      );
      for (const { stdout } of outputs) expect(JSON.parse(stdout)).toEqual({ ok: true });
      const store = await open();
      expect(await store.ping()).toEqual({ ok: true });
    });

    // PostgreSQL only: better-sqlite3 waits for a lock synchronously, so two stores on one
    // SQLite file in one process would block each other's event loop (a process opens one store
    // per file; the test above covers SQLite across processes).
    if (backend.name === 'postgresql') {
      it('migrates once when eight stores open a fresh database in the same instant', async () => {
        // In one process the eight first statements reach the server together: the race that a
        // CREATE TABLE IF NOT EXISTS outside the migration lock loses.
        const opened = await Promise.all(
          Array.from({ length: 8 }, (_, index) => open({ owner: `owner-${index}` })),
        );
        for (const store of opened) expect(await store.ping()).toEqual({ ok: true });
      });
    }
  });
}
