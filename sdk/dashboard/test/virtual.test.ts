import assert from "node:assert/strict";
import { test } from "node:test";
import { visibleRange } from "../src/lib/virtual";

test("only the rows in view plus the overscan are rendered, whatever the list length", () => {
  assert.deepEqual(visibleRange(10_000, 40, 0, 400, 5), { start: 0, end: 16, total: 400_000, offset: 0 });
  assert.deepEqual(visibleRange(10_000, 40, 4000, 400, 5), { start: 95, end: 116, total: 400_000, offset: 3800 });
  const end = visibleRange(10_000, 40, 1e9, 400, 5);
  assert.equal(end.end, 10_000, "scrolled past the end: clamped to the last rows");
  assert.ok(end.end - end.start <= 16);
  assert.deepEqual(visibleRange(0, 40, 0, 400), { start: 0, end: 0, total: 0, offset: 0 });
  assert.deepEqual(visibleRange(3, 40, 0, 400, 5), { start: 0, end: 3, total: 120, offset: 0 });
});
