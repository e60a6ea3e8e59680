/**
 * Group commit: operations submitted while a transaction is being written wait and are then
 * written together in the next one, so N concurrent requests share one fsync instead of
 * paying N. Nothing is acknowledged before its transaction has committed.
 *
 * With `maxInFlight` > 1 the next batch is handed to `commit` before the previous one has
 * finished (a writer that applies batches strictly in the order it receives them, such as the
 * SQLite write thread, lets the request thread prepare batch N+1 while N is written), and what
 * has queued is spread over the free places, down to `minBatch` operations per batch: the
 * first part is answered while the next is written, and when commits are slow (the queue
 * grows) batches grow with it, up to `maxBatch`, so that each fsync still carries many.
 */
export interface GroupCommitOptions {
  maxBatch: number;
  /** Batches handed to `commit` before the first of them has finished (default 1). */
  maxInFlight?: number;
  /** The smallest batch a queue is split into across free places (default: maxBatch, no split). */
  minBatch?: number;
}

export class GroupCommit<Op, Result> {
  readonly #queue: Array<{ op: Op; resolve: (result: Result) => void; reject: (error: unknown) => void }> =
    [];
  readonly #commit: (ops: Op[]) => Promise<Array<Result | Error>>;
  readonly #maxBatch: number;
  readonly #maxInFlight: number;
  readonly #minBatch: number;
  readonly #inFlight = new Set<Promise<void>>();
  #scheduled = false;

  constructor(commit: (ops: Op[]) => Promise<Array<Result | Error>>, options: GroupCommitOptions) {
    this.#commit = commit;
    this.#maxBatch = options.maxBatch;
    this.#maxInFlight = options.maxInFlight ?? 1;
    this.#minBatch = Math.min(options.minBatch ?? options.maxBatch, options.maxBatch);
  }

  submit(op: Op): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject });
      this.#schedule();
    });
  }

  /** Resolves once everything submitted so far has been committed or refused. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0 || this.#scheduled || this.#queue.length > 0) {
      await (this.#inFlight.size > 0
        ? Promise.race(this.#inFlight)
        : new Promise((resolve) => setImmediate(resolve)));
    }
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight.size >= this.#maxInFlight) return;
    this.#scheduled = true;
    // setImmediate runs after the poll phase: every request already readable has been parsed
    // and has queued its operation by then, so it joins this batch.
    setImmediate(() => {
      this.#scheduled = false;
      const free = this.#maxInFlight - this.#inFlight.size;
      if (this.#queue.length === 0 || free <= 0) return;
      const size = Math.min(this.#maxBatch, Math.max(this.#minBatch, Math.ceil(this.#queue.length / free)));
      const running: Promise<void> = this.#run(this.#queue.splice(0, size)).finally(() => {
        this.#inFlight.delete(running);
        if (this.#queue.length > 0) this.#schedule();
      });
      this.#inFlight.add(running);
      if (this.#queue.length > 0) this.#schedule();
    });
  }

  async #run(batch: Array<{ op: Op; resolve: (result: Result) => void; reject: (error: unknown) => void }>) {
    let results: Array<Result | Error>;
    try {
      results = await this.#commit(batch.map((entry) => entry.op));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
      return;
    }
    batch.forEach((entry, index) => {
      const result = results[index];
      if (result instanceof Error) entry.reject(result);
      else entry.resolve(result as Result);
    });
  }
}
