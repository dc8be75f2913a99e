// Reconnect delays: exponential with full jitter, capped, reset after a
// connection that lived long enough to count as healthy.

export interface BackoffOptions {
  /** First delay, ms. */
  initial: number;
  /** Largest delay, ms. */
  max: number;
  /** 0..1 → a random fraction; injected so tests are deterministic. */
  random: () => number;
}

export class Backoff {
  private attempt = 0;
  constructor(private readonly options: BackoffOptions) {}

  /** The delay before the next try, ms: a random amount up to initial·2ⁿ (capped), at least half of it. */
  next(): number {
    const ceiling = Math.min(this.options.max, this.options.initial * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const fraction = Math.min(Math.max(this.options.random(), 0), 1);
    return Math.round(ceiling / 2 + (ceiling / 2) * fraction);
  }

  /** How many delays were handed out since the last reset. */
  get failures(): number {
    return this.attempt;
  }

  /** Back to the first delay (after a healthy connection). */
  reset(): void {
    this.attempt = 0;
  }
}
