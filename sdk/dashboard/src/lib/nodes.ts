// What the overview shows of a node: badges, usage, heartbeat age.

import type { Node } from "../../../ts/orchion";
import { timestampMs } from "./jobs";

export interface Badge {
  /** Short text: "NVIDIA", "Pi", "Coral". */
  label: string;
  /** Longer text for the tooltip and screen readers. */
  title: string;
  /** A CSS class suffix: vendor or kind. */
  kind: string;
}

/** Hardware badges: GPU vendors (with counts), accelerators, a Raspberry Pi. */
export function hardwareBadges(node: Node): Badge[] {
  const capabilities = node.capabilities ?? {};
  const badges: Badge[] = [];
  const vendors = new Map<string, string[]>();
  for (const gpu of capabilities.gpus ?? []) {
    const vendor = (gpu.vendor ?? "").toLowerCase();
    vendors.set(vendor, [...(vendors.get(vendor) ?? []), gpu.model ?? ""]);
  }
  for (const [vendor, models] of [...vendors.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const label = vendor === "nvidia" ? "NVIDIA" : vendor === "amd" ? "AMD" : vendor === "intel" ? "Intel" : vendor.toUpperCase() || "GPU";
    badges.push({
      label: models.length > 1 ? `${label} ×${models.length}` : label,
      title: `${models.length} GPU${models.length > 1 ? "s" : ""}: ${[...new Set(models)].join(", ")}`,
      kind: vendor || "gpu",
    });
  }
  for (const accelerator of capabilities.accelerators ?? []) {
    const text = `${accelerator.kind ?? ""} ${accelerator.model ?? ""}`.toLowerCase();
    const label = text.includes("hailo")
      ? "Hailo"
      : text.includes("coral") || text.includes("edgetpu")
        ? "Coral"
        : (accelerator.kind ?? "accel").toUpperCase();
    const count = accelerator.count ?? 1;
    badges.push({
      label: count > 1 ? `${label} ×${count}` : label,
      title: `${accelerator.kind ?? "accelerator"}: ${accelerator.model ?? "unknown model"}`,
      kind: label.toLowerCase(),
    });
  }
  if (isRaspberryPi(node)) badges.push({ label: "Pi", title: "Raspberry Pi", kind: "pi" });
  return badges;
}

export function isRaspberryPi(node: Node): boolean {
  const capabilities = node.capabilities ?? {};
  const text = `${capabilities.cpuModel ?? ""} ${Object.values(node.labels ?? {}).join(" ")}`.toLowerCase();
  return text.includes("raspberry") || /\bbcm27\d\d\b/.test(text);
}

export interface Usage {
  cpu?: number;
  memory?: number;
  /** Mean utilisation over the node's GPUs. */
  gpu?: number;
}

/** Live usage from the latest telemetry, as fractions 0–1. */
export function nodeUsage(node: Node): Usage {
  const telemetry = node.telemetry;
  const usage: Usage = {};
  if (telemetry === undefined) return usage;
  usage.cpu = telemetry.cpuUtilization ?? 0;
  // The total the sample was taken against, else what the node registered with.
  const total = Number(telemetry.memoryTotalBytes ?? 0) || Number(node.capabilities?.memoryBytes ?? 0);
  if (total > 0) usage.memory = Number(telemetry.memoryUsedBytes ?? 0) / total;
  const gpus = telemetry.gpus ?? [];
  if (gpus.length > 0) usage.gpu = gpus.reduce((sum, gpu) => sum + (gpu.utilization ?? 0), 0) / gpus.length;
  return usage;
}

/** Milliseconds since the node's last heartbeat, at `nowMs` (NaN when it never beat). */
export function heartbeatAgeMs(node: Node, nowMs: number): number {
  return nowMs - timestampMs(node.lastHeartbeat);
}

/** The hottest thermal zone of the latest sample, °C. */
export function hottest(node: Node): number | undefined {
  const zones = node.telemetry?.thermalZones ?? [];
  const readings = zones.map((zone) => zone.celsius ?? Number.NaN).filter(Number.isFinite);
  return readings.length > 0 ? Math.max(...readings) : undefined;
}
