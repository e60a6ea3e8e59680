import { ApiError } from './errors.js';

/**
 * Token buckets per client: `perMinute` requests per minute, bursts up to `burst`. Bounded
 * memory: idle buckets are dropped, and past `maxClients` the oldest are evicted.
 */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; updated: number }>();
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #maxClients: number;

  constructor(perMinute: number, burst = Math.max(1, Math.ceil(perMinute / 6)), maxClients = 100_000) {
    this.#ratePerMs = perMinute / 60_000;
    this.#burst = burst;
    this.#maxClients = maxClients;
  }

  /** 0 when allowed, else the seconds to wait. */
  take(client: string, now = Date.now()): number {
    let bucket = this.#buckets.get(client);
    if (bucket) {
      this.#buckets.delete(client); // re-insert: Map order is then least recently used first
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.updated) * this.#ratePerMs);
      bucket.updated = now;
    } else {
      bucket = { tokens: this.#burst, updated: now };
      if (this.#buckets.size >= this.#maxClients) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    }
    this.#buckets.set(client, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.#ratePerMs / 1000));
  }

  get size(): number {
    return this.#buckets.size;
  }
}

/** Throws 429 `rate_limited` when `client` has no token left; a `null` client is not limited. */
export function checkRate(limiter: RateLimiter, client: string | null): void {
  const wait = client === null ? 0 : limiter.take(client);
  if (wait > 0) {
    throw new ApiError(429, 'rate_limited', 'too many requests; retry later', {
      headers: { 'Retry-After': String(wait) },
    });
  }
}

/** At most `max` executions of one action at a time in this process. */
export class ConcurrencyLimiter {
  readonly #running = new Map<string, number>();
  constructor(private readonly max: number) {}

  tryAcquire(action: string): (() => void) | null {
    const running = this.#running.get(action) ?? 0;
    if (running >= this.max) return null;
    this.#running.set(action, running + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const now = (this.#running.get(action) ?? 1) - 1;
      if (now === 0) this.#running.delete(action);
      else this.#running.set(action, now);
    };
  }
}
