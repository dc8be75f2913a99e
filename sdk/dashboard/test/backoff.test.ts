import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "../src/lib/backoff";

test("delays double from the initial one up to the cap, between half and all of each step", () => {
  const low = new Backoff({ initial: 500, max: 4000, random: () => 0 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => low.next()), [250, 500, 1000, 2000, 2000]);
  const high = new Backoff({ initial: 500, max: 4000, random: () => 1 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => high.next()), [500, 1000, 2000, 4000, 4000]);
  assert.equal(high.failures, 5);
});

test("reset starts again from the first delay", () => {
  const backoff = new Backoff({ initial: 100, max: 10_000, random: () => 1 });
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.equal(backoff.next(), 100);
});
