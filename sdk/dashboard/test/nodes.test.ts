import assert from "node:assert/strict";
import { test } from "node:test";
import type { Node } from "../../ts/orchion";
import { hardwareBadges, heartbeatAgeMs, hottest, nodeUsage } from "../src/lib/nodes";

test("badges name GPU vendors with counts, Coral and Hailo accelerators, and a Raspberry Pi", () => {
  const node: Node = {
    capabilities: {
      cpuModel: "Raspberry Pi 5 Model B Rev 1.0",
      gpus: [
        { vendor: "nvidia", model: "NVIDIA A100" },
        { vendor: "nvidia", model: "NVIDIA A100" },
        { vendor: "amd", model: "Radeon" },
      ],
      accelerators: [
        { kind: "edgetpu", model: "Coral USB Accelerator", count: 1 },
        { kind: "npu", model: "Hailo-8L", count: 2 },
      ],
    },
  };
  assert.deepEqual(
    hardwareBadges(node).map((badge) => badge.label),
    ["AMD", "NVIDIA ×2", "Coral", "Hailo ×2", "Pi"],
  );
  assert.equal(hardwareBadges(node)[1]?.title, "2 GPUs: NVIDIA A100");
  assert.deepEqual(hardwareBadges({ capabilities: { arch: "x86_64", cpuModel: "AMD EPYC" } }), []);
});

test("usage from the latest telemetry; heartbeat age from the last beat", () => {
  const node: Node = {
    capabilities: { memoryBytes: "1000" },
    telemetry: { cpuUtilization: 0.25, memoryUsedBytes: "500", gpus: [{ utilization: 0.5 }, { utilization: 1 }] },
    lastHeartbeat: "2026-01-01T00:00:00Z",
  };
  assert.deepEqual(nodeUsage(node), { cpu: 0.25, memory: 0.5, gpu: 0.75 });
  assert.deepEqual(nodeUsage({}), {});
  const sampled: Node = { capabilities: { memoryBytes: "1000" }, telemetry: { memoryUsedBytes: "500", memoryTotalBytes: "2000" } };
  assert.equal(nodeUsage(sampled).memory, 0.25, "the sample's own total wins");
  assert.equal(hottest({ telemetry: { thermalZones: [{ celsius: 41.5 }, { celsius: 63 }, {}] } }), 63);
  assert.equal(hottest({}), undefined);
  assert.equal(heartbeatAgeMs(node, Date.UTC(2026, 0, 1, 0, 0, 3)), 3000);
});
