/**
 * Group commit: operations submitted while a transaction is being written wait and are then
 * written together in the next one, so N concurrent requests share one fsync instead of
 * paying N. Nothing is acknowledged before its transaction has committed.
 */
export class GroupCommit<Op, Result> {
  readonly #queue: Array<{ op: Op; resolve: (result: Result) => void; reject: (error: unknown) => void }> =
    [];
  readonly #commit: (ops: Op[]) => Promise<Array<Result | Error>>;
  readonly #maxBatch: number;
  #scheduled = false;
  #running: Promise<void> | null = null;

  constructor(commit: (ops: Op[]) => Promise<Array<Result | Error>>, maxBatch: number) {
    this.#commit = commit;
    this.#maxBatch = maxBatch;
  }

  submit(op: Op): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves once everything submitted so far has been committed or refused. */
  async drain(): Promise<void> {
    while (this.#running || this.#scheduled || this.#queue.length > 0) {
      await (this.#running ?? new Promise((resolve) => setImmediate(resolve)));
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    // setImmediate runs after the poll phase: every request already readable has been parsed
    // and has queued its operation by then, so it joins this batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#running = this.#run().finally(() => {
        this.#running = null;
        if (this.#queue.length > 0) this.#schedule();
      });
    });
  }

  async #run(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      let results: Array<Result | Error>;
      try {
        results = await this.#commit(batch.map((entry) => entry.op));
      } catch (error) {
        for (const entry of batch) entry.reject(error);
        continue;
      }
      batch.forEach((entry, index) => {
        const result = results[index];
        if (result instanceof Error) entry.reject(result);
        else entry.resolve(result as Result);
      });
    }
  }
}
