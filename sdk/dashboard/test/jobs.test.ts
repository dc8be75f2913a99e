import assert from "node:assert/strict";
import { test } from "node:test";
import type { Job, JobEvent } from "../../ts/orchion";
import { applyEvent, filterJobs, JobTable, timestampMs } from "../src/lib/jobs";

const run: JobEvent[] = [
  { jobId: "j1", state: "JOB_STATE_PENDING", attempt: 0, reason: "no node yet", sequence: "1", at: "2026-01-01T00:00:00Z" },
  { jobId: "j1", state: "JOB_STATE_SCHEDULED", attempt: 1, nodeId: "n1", sequence: "2", at: "2026-01-01T00:00:01Z" },
  { jobId: "j1", state: "JOB_STATE_RUNNING", attempt: 1, nodeId: "n1", sequence: "3", at: "2026-01-01T00:00:02Z" },
  { jobId: "j1", state: "JOB_STATE_LOST", attempt: 1, nodeId: "n1", reason: "node down", sequence: "4", at: "2026-01-01T00:00:05Z" },
  { jobId: "j1", state: "JOB_STATE_PENDING", attempt: 1, reason: "retrying", sequence: "5", at: "2026-01-01T00:00:06Z" },
  { jobId: "j1", state: "JOB_STATE_RUNNING", attempt: 2, nodeId: "n2", sequence: "6", at: "2026-01-01T00:00:07Z" },
  { jobId: "j1", state: "JOB_STATE_SUCCEEDED", attempt: 2, nodeId: "n2", exitCode: "0", sequence: "7", at: "2026-01-01T00:00:09Z" },
];

test("events build the job's state and attempts", () => {
  const table = new JobTable();
  for (const event of run) table.apply(event);
  const job = table.get("j1");
  assert.equal(job?.state, "JOB_STATE_SUCCEEDED");
  assert.deepEqual(
    job?.attempts?.map((a) => [a.number, a.nodeId, a.state, a.startedAt, a.finishedAt]),
    [
      [1, "n1", "JOB_STATE_LOST", "2026-01-01T00:00:02Z", "2026-01-01T00:00:05Z"],
      [2, "n2", "JOB_STATE_SUCCEEDED", "2026-01-01T00:00:07Z", "2026-01-01T00:00:09Z"],
    ],
  );
  assert.ok(table.partial.has("j1"), "known from events only: its spec is still to load");
});

test("replaying the events after any snapshot point ends in the same job (resume after a reconnect)", () => {
  const full = run.reduce<Job>((job, event) => applyEvent(job, event), { id: "j1" });
  for (let cut = 0; cut <= run.length; cut++) {
    const snapshot = run.slice(0, cut).reduce<Job>((job, event) => applyEvent(job, event), { id: "j1" });
    // The stream resumed from before the snapshot: some events arrive twice.
    const replayed = run.slice(Math.max(0, cut - 2)).reduce((job, event) => applyEvent(job, event), snapshot);
    assert.deepEqual(replayed, full, `snapshot after ${cut} events`);
  }
});

test("a snapshot replaces a job loaded from events; leaving pending drops the why-pending reasons", () => {
  const table = new JobTable();
  table.apply(run[0] as JobEvent);
  table.upsert([{ id: "j1", state: "JOB_STATE_PENDING", spec: { command: "true" }, pendingReasons: [{ reason: "lack a GPU", nodes: 2 }] }]);
  assert.ok(!table.partial.has("j1"));
  assert.equal(table.get("j1")?.pendingReasons?.length, 1);
  table.apply(run[2] as JobEvent);
  assert.equal(table.get("j1")?.pendingReasons, undefined);
  assert.equal(table.get("j1")?.spec?.command, "true");
});

test("a reply answered before events already applied does not move the job back", () => {
  const table = new JobTable();
  for (const event of run.slice(0, 3)) table.apply(event);
  // GetJob answered while the job was still scheduled, arriving after RUNNING.
  table.upsert([{ id: "j1", state: "JOB_STATE_SCHEDULED", updatedAt: "2026-01-01T00:00:01Z", spec: { command: "sleep 60" } }]);
  assert.equal(table.get("j1")?.state, "JOB_STATE_RUNNING");
  assert.equal(table.get("j1")?.spec?.command, "sleep 60", "its spec is taken");
  assert.ok(!table.partial.has("j1"));
  // A newer reply wins.
  table.upsert([{ id: "j1", state: "JOB_STATE_CANCELLED", updatedAt: "2026-01-01T00:00:03Z" }]);
  assert.equal(table.get("j1")?.state, "JOB_STATE_CANCELLED");
});

test("filters by state, node and label or text; newest first", () => {
  const jobs: Job[] = [
    { id: "a", state: "JOB_STATE_RUNNING", createdAt: "2026-01-01T00:00:01Z", attempts: [{ number: 1, nodeId: "n1" }], spec: { name: "train", constraints: { gpu: "a100" } } },
    { id: "b", state: "JOB_STATE_PENDING", createdAt: "2026-01-01T00:00:03Z", spec: { command: "make test" } },
    { id: "c", state: "JOB_STATE_RUNNING", createdAt: "2026-01-01T00:00:02Z", attempts: [{ number: 1, nodeId: "n2" }] },
  ];
  assert.deepEqual(filterJobs(jobs, {}).map((j) => j.id), ["b", "c", "a"]);
  assert.deepEqual(filterJobs(jobs, { state: "JOB_STATE_RUNNING" }).map((j) => j.id), ["c", "a"]);
  assert.deepEqual(filterJobs(jobs, { node: "n1" }).map((j) => j.id), ["a"]);
  assert.deepEqual(filterJobs(jobs, { text: "GPU=A100" }).map((j) => j.id), ["a"]);
  assert.deepEqual(filterJobs(jobs, { text: "make" }).map((j) => j.id), ["b"]);
});

test("timestamps with any fraction length read to the millisecond", () => {
  assert.equal(timestampMs("2026-01-01T00:00:00Z"), Date.UTC(2026, 0, 1));
  assert.equal(timestampMs("2026-01-01T00:00:00.123456789Z"), Date.UTC(2026, 0, 1) + 123);
  assert.equal(timestampMs("2026-01-01T01:00:00.5+01:00"), Date.UTC(2026, 0, 1) + 500);
  assert.ok(Number.isNaN(timestampMs("yesterday")));
  assert.ok(Number.isNaN(timestampMs(undefined)));
});
