import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

/** A commit function whose batches stay open until the test settles them. */
function controlledCommit() {
  const batches: Array<{ ops: number[]; settle(results: Array<string | Error> | Error): void }> = [];
  let open = 0;
  let mostOpen = 0;
  const commit = (ops: number[]) =>
    new Promise<Array<string | Error>>((resolve, reject) => {
      open++;
      mostOpen = Math.max(mostOpen, open);
      batches.push({
        ops,
        settle(results) {
          open--;
          if (results instanceof Error) reject(results);
          else resolve(results);
        },
      });
    });
  return { commit, batches, mostOpen: () => mostOpen };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('writes operations submitted together as one batch', async () => {
    const { commit, batches } = controlledCommit();
    const writer = new GroupCommit(commit, { maxBatch: 16 });
    const answers = [1, 2, 3].map((op) => writer.submit(op));
    await tick();
    expect(batches.map((batch) => batch.ops)).toEqual([[1, 2, 3]]);
    batches[0]?.settle(['a', 'b', 'c']);
    expect(await Promise.all(answers)).toEqual(['a', 'b', 'c']);
  });

  it('splits what has queued over the free places, never below minBatch', async () => {
    const { commit, batches, mostOpen } = controlledCommit();
    const writer = new GroupCommit(commit, { maxBatch: 128, maxInFlight: 3, minBatch: 16 });
    const ops = Array.from({ length: 40 }, (_, index) => index);
    const answers = Promise.all(ops.map((op) => writer.submit(op)));
    for (let i = 0; i < 4; i++) await tick();
    // 40 over 3 places would be 14 each: below 16, so 16, 16 and the 8 left.
    expect(batches.map((batch) => batch.ops.length)).toEqual([16, 16, 8]);
    expect(batches.flatMap((batch) => batch.ops)).toEqual(ops);
    for (const batch of batches) batch.settle(batch.ops.map(String));
    expect(await answers).toEqual(ops.map(String));
    expect(mostOpen()).toBe(3);
  });

  it('lets batches grow while commits are slow, up to maxBatch, with at most maxInFlight open', async () => {
    const { commit, batches, mostOpen } = controlledCommit();
    const writer = new GroupCommit(commit, { maxBatch: 128, maxInFlight: 3, minBatch: 16 });
    const first = Promise.all([0, 1, 2].map((op) => writer.submit(op)));
    for (let i = 0; i < 3; i++) await tick();
    expect(batches.map((batch) => batch.ops)).toEqual([[0, 1, 2]]);
    // 300 arrive while that one is written: two places free, so 128 and 128 (capped), then the
    // rest once a place frees up.
    const burst = Array.from({ length: 300 }, (_, index) => index + 3);
    const second = Promise.all(burst.map((op) => writer.submit(op)));
    for (let i = 0; i < 4; i++) await tick();
    expect(batches.map((batch) => batch.ops.length)).toEqual([3, 128, 128]);
    batches[0]?.settle(['0', '1', '2']);
    for (let i = 0; i < 4; i++) await tick();
    expect(batches.map((batch) => batch.ops.length)).toEqual([3, 128, 128, 44]);
    for (const batch of batches.slice(1)) batch.settle(batch.ops.map(String));
    expect(await first).toEqual(['0', '1', '2']);
    expect(await second).toEqual(burst.map(String));
    expect(batches.flatMap((batch) => batch.ops)).toEqual([0, 1, 2, ...burst]);
    expect(mostOpen()).toBe(3);
  });

  it('fails only the batch whose commit failed, and only the operation answered with an error', async () => {
    const { commit, batches } = controlledCommit();
    const writer = new GroupCommit(commit, { maxBatch: 2, maxInFlight: 2 });
    const answers = [1, 2, 3, 4].map((op) => writer.submit(op).catch((error: Error) => error.message));
    await tick();
    await tick();
    expect(batches.map((batch) => batch.ops)).toEqual([
      [1, 2],
      [3, 4],
    ]);
    batches[0]?.settle(new Error('disk gone'));
    batches[1]?.settle(['three', new Error('refused')]);
    expect(await Promise.all(answers)).toEqual(['disk gone', 'disk gone', 'three', 'refused']);
  });

  it('drain waits for every submitted operation', async () => {
    const { commit, batches } = controlledCommit();
    const writer = new GroupCommit(commit, { maxBatch: 1 });
    const answers = [1, 2].map((op) => writer.submit(op));
    let drained = false;
    const draining = writer.drain().then(() => {
      drained = true;
    });
    await tick();
    batches[0]?.settle(['one']);
    await tick();
    await tick();
    expect(drained).toBe(false);
    batches[1]?.settle(['two']);
    await draining;
    expect(await Promise.all(answers)).toEqual(['one', 'two']);
  });
});
