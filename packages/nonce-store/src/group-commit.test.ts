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
    const writer = new GroupCommit(commit, 16, 1);
    const answers = [1, 2, 3].map((op) => writer.submit(op));
    await tick();
    expect(batches.map((batch) => batch.ops)).toEqual([[1, 2, 3]]);
    batches[0]?.settle(['a', 'b', 'c']);
    expect(await Promise.all(answers)).toEqual(['a', 'b', 'c']);
  });

  it('splits a burst into batches of at most maxBatch with at most maxInFlight open', async () => {
    const { commit, batches, mostOpen } = controlledCommit();
    const writer = new GroupCommit(commit, 16, 3);
    const ops = Array.from({ length: 70 }, (_, index) => index);
    const answers = Promise.all(ops.map((op) => writer.submit(op)));
    await tick();
    await tick();
    await tick();
    expect(batches.map((batch) => batch.ops.length)).toEqual([16, 16, 16]);
    // Nothing more is handed over until one of the three has finished.
    await tick();
    expect(batches).toHaveLength(3);
    for (let settled = 0; settled < batches.length; settled++) {
      const batch = batches[settled];
      batch?.settle(batch.ops.map(String));
      await tick();
      await tick();
    }
    expect(batches.map((batch) => batch.ops.length)).toEqual([16, 16, 16, 16, 6]);
    expect(batches.flatMap((batch) => batch.ops)).toEqual(ops);
    expect(mostOpen()).toBe(3);
    expect(await answers).toEqual(ops.map(String));
  });

  it('fails only the batch whose commit failed, and only the operation answered with an error', async () => {
    const { commit, batches } = controlledCommit();
    const writer = new GroupCommit(commit, 2, 2);
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
    const writer = new GroupCommit(commit, 1, 1);
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
