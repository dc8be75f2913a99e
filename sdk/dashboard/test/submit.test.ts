import assert from "node:assert/strict";
import { test } from "node:test";
import { checkSubmitForm, EMPTY_FORM, parseBytes, parseCPU, parseDuration, parseLabels } from "../src/lib/submit";

test("quantities: CPU, bytes, durations, labels", () => {
  assert.equal(parseCPU("2"), "2000");
  assert.equal(parseCPU("0.5"), "500");
  assert.equal(parseCPU("250m"), "250");
  assert.equal(parseCPU("1.2345"), undefined);
  assert.equal(parseCPU("two"), undefined);
  assert.equal(parseBytes("512Mi"), String(512 * 1024 * 1024));
  assert.equal(parseBytes("2G"), "2000000000");
  assert.equal(parseBytes("1.5Gi"), String(1.5 * 1024 ** 3));
  assert.equal(parseBytes("1048576"), "1048576");
  assert.equal(parseBytes("3 parsecs"), undefined);
  assert.equal(parseBytes("99999999999999999999Ti"), undefined, "past uint64");
  assert.equal(parseDuration("90"), 90);
  assert.equal(parseDuration("1h30m"), 5400);
  assert.equal(parseDuration("2d"), 172_800);
  assert.equal(parseDuration("soon"), undefined);
  assert.deepEqual(parseLabels("gpu=a100, zone = lab\nrack=2"), { gpu: "a100", zone: "lab", rack: "2" });
  assert.match(parseLabels("=x") as string, /non-empty key/);
});

test("a complete form becomes a SubmitJobRequest in the JSON mapping", () => {
  const checked = checkSubmitForm(
    {
      ...EMPTY_FORM,
      name: " train ",
      command: "python train.py",
      cpu: "4",
      memory: "8Gi",
      gpus: "1",
      gpuModel: "A100",
      labels: "zone=lab",
      strategy: "gpu-affinity",
      maxAttempts: "3",
      timeout: "1h",
      priority: "-2",
    },
    "req-1",
  );
  assert.deepEqual(checked.request, {
    requestId: "req-1",
    spec: {
      name: "train",
      command: "python train.py",
      resources: { cpuMillis: "4000", memoryBytes: String(8 * 1024 ** 3) },
      gpu: { count: 1, model: "A100" },
      constraints: { zone: "lab" },
      strategy: "gpu-affinity",
      retry: { maxAttempts: 3 },
      timeout: "3600s",
      priority: -2,
    },
  });
});

test("every bad field is reported, as the server would refuse it", () => {
  const checked = checkSubmitForm(
    { ...EMPTY_FORM, name: "x".repeat(254), cpu: "lots", gpuModel: "A100", maxAttempts: "1001", labels: "novalue", timeout: "a while" },
    "req-2",
  );
  assert.equal(checked.request, undefined);
  assert.deepEqual(Object.keys(checked.errors ?? {}).sort(), ["command", "cpu", "gpus", "labels", "maxAttempts", "name", "timeout"]);
  assert.match(checked.errors?.command ?? "", /expected a command/);
  assert.match(checked.errors?.maxAttempts ?? "", /at most 1000/);
});
