import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistry, defineHandler } from '@openexec/handler-registry';
import { type ExecutionStore, openExecutionStore, StoreError } from '@openexec/nonce-store';
import { generateSigningKey } from '@openexec/receipts';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { noopObserver } from './observability.js';
import { receiptSealerModule } from './receipts.js';
import { ExecutionService } from './service.js';

const config = { mode: 'demo' as const, tenant: 'default', maxResultBytes: 1 << 20 };
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function sqliteStore(options: { leaseMs?: number; now?: () => number } = {}): Promise<ExecutionStore> {
  const dir = mkdtempSync(join(tmpdir(), 'openexec-service-'));
  const store = await openExecutionStore({
    url: `sqlite:///${join(dir, 'db.sqlite')}`,
    owner: 'node-1',
    leaseMs: options.leaseMs ?? 60_000,
    receipts: receiptSealerModule(generateSigningKey().privateKeyPem, 'node-1'),
    ...(options.now ? { now: options.now } : {}),
  });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => store.close());
  return store;
}

const json = (output: { json: string }) => JSON.parse(output.json);

describe('ExecutionService', () => {
  it('records an outcome once when the answer to its commit was lost, and answers with the stored receipt', async () => {
    const store = await sqliteStore();
    let runs = 0;
    const registry = createRegistry([
      defineHandler({
        name: 'pay',
        version: '1',
        input: z.object({}),
        output: z.object({ paid: z.literal(true) }),
        timeoutMs: 5_000,
        sideEffects: true,
        run: () => {
          runs++;
          return { paid: true as const };
        },
      }),
    ]);
    // The database is real; only the answer to the first completion is lost after it committed.
    let lose = true;
    const losing = new Proxy(store, {
      get(target, key) {
        if (key === 'complete') {
          return async (...args: Parameters<ExecutionStore['complete']>) => {
            const result = await target.complete(...args);
            if (lose) {
              lose = false;
              throw new StoreError('ERR_STORE_UNAVAILABLE', 'connection lost after COMMIT');
            }
            return result;
          };
        }
        const value = Reflect.get(target, key);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const service = new ExecutionService({ config, registry, store: losing, verifyApproval: null });

    const first = await service.execute({ body: { action: 'pay', payload: {}, nonce: 'p-1' } });
    const replay = await service.execute({ body: { action: 'pay', payload: {}, nonce: 'p-1' } });

    expect(runs).toBe(1);
    expect(first.status).toBe(200);
    const record = await store.lookup('default', 'p-1');
    expect(await store.receiptsOfExecution(record?.id as string)).toHaveLength(1);
    expect(json(first).signed_receipt).toEqual(JSON.parse(record?.receipt as string));
    expect(json(replay).signed_receipt).toEqual(json(first).signed_receipt);
  });

  it('answers the real outcome of a run that outlived its lease and an operator resolution, and counts it', async () => {
    let clock = Date.now();
    const store = await sqliteStore({ leaseMs: 1_000, now: () => clock });
    let started = () => {};
    let finish = () => {};
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const registry = createRegistry([
      defineHandler({
        name: 'slow',
        version: '1',
        input: z.object({}),
        output: z.object({ done: z.literal(true) }),
        timeoutMs: 60_000,
        sideEffects: true,
        run: async () => {
          started();
          await new Promise<void>((resolve) => {
            finish = resolve;
          });
          return { done: true as const };
        },
      }),
    ]);
    const late: string[] = [];
    const observer = { ...noopObserver, outcomeAfterResolution: (outcome: string) => late.push(outcome) };
    const service = new ExecutionService({ config, registry, store, verifyApproval: null, observer });

    const pending = service.execute({ body: { action: 'slow', payload: {}, nonce: 's-1' } });
    await running;
    clock += 2_000;
    expect(await store.expireLeases()).toBe(1);
    await store.resolve({
      tenant: 'default',
      nonce: 's-1',
      state: 'failed',
      operator: 'oncall',
      responseStatus: 502,
      responseBody: JSON.stringify({ detail: 'resolved as failed', code: 'resolved_failed' }),
    });
    finish();
    const answer = await pending;

    // The caller learns what happened in the world; the operator's record stays, and the
    // difference is counted (openexec_outcomes_after_resolution_total).
    expect(answer.status).toBe(200);
    expect(json(answer)).toMatchObject({ status: 'succeeded', result: { done: true } });
    expect(late).toEqual(['succeeded']);
    const replay = await service.execute({ body: { action: 'slow', payload: {}, nonce: 's-1' } });
    expect(replay.status).toBe(502);
  });
});
