import assert from "node:assert/strict";
import { test } from "node:test";
import { commandLine, formatAge, formatBytes, formatCPU, formatDuration, formatPercent, formatProtoDuration, stateName } from "../src/lib/format";

test("bytes in binary units from uint64 strings", () => {
  assert.equal(formatBytes("0"), "0 B");
  assert.equal(formatBytes("1023"), "1023 B");
  assert.equal(formatBytes("1536"), "1.5 KiB");
  assert.equal(formatBytes("25199378432"), "23.5 GiB");
  assert.equal(formatBytes("5000000000"), "4.66 GiB");
  assert.equal(formatBytes(undefined), "0 B");
  assert.equal(formatBytes("-1"), "—");
});

test("CPU from thousandths of a core", () => {
  assert.equal(formatCPU("2000"), "2");
  assert.equal(formatCPU("250"), "250m");
  assert.equal(formatCPU("1500"), "1.5");
  assert.equal(formatCPU(undefined), "0");
});

test("durations and ages", () => {
  assert.equal(formatDuration(850), "850ms");
  assert.equal(formatDuration(12_400), "12s");
  assert.equal(formatDuration(185_000), "3m 05s");
  assert.equal(formatDuration(7_260_000), "2h 01m");
  assert.equal(formatDuration(100_800_000), "1d 4h");
  assert.equal(formatAge(1000, 1500), "now");
  assert.equal(formatAge(0, 4_200), "4s ago");
  assert.equal(formatAge(0, 180_000), "3m ago");
  assert.equal(formatAge(Number.NaN, 0), "never");
  assert.equal(formatProtoDuration("1.500s"), "1s");
  assert.equal(formatProtoDuration("90s"), "1m 30s");
});

test("percentages clamp; states read as words; commands as one line", () => {
  assert.equal(formatPercent(0.424), "42%");
  assert.equal(formatPercent(1.7), "100%");
  assert.equal(formatPercent(undefined), "—");
  assert.equal(stateName("JOB_STATE_RUNNING"), "running");
  assert.equal(stateName("NODE_STATE_SUSPECT"), "suspect");
  assert.equal(stateName("PLUGIN_KIND_SCHEDULER"), "scheduler");
  assert.equal(commandLine("echo hi", ["x"]), "echo hi");
  assert.equal(commandLine(undefined, ["echo", "it's here", "a-b"]), "echo 'it'\\''s here' a-b");
});
