import {
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import { useEffect, useRef } from "react";
import type { Telemetry } from "../../../ts/orchion";
import { formatAge } from "../lib/format";
import { timestampMs } from "../lib/jobs";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Filler, Tooltip, Legend);

/** CPU, memory and GPU use over the history the server keeps (GetNode's `history`). */
export default function TelemetryChart({ history, memoryTotal }: { history: readonly Telemetry[]; memoryTotal: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<"line", { x: number; y: number }[]> | null>(null);
  useEffect(() => {
    const element = canvas.current;
    if (element === null) return undefined;
    const style = getComputedStyle(document.documentElement);
    const text = style.getPropertyValue("--text").trim() || "#222";
    const grid = style.getPropertyValue("--line").trim() || "#ccc";
    chart.current = new Chart(element, {
      type: "line",
      data: {
        datasets: [
          { label: "CPU %", data: [], borderColor: "#3b82f6", backgroundColor: "#3b82f633", fill: true, pointRadius: 0 },
          { label: "Memory %", data: [], borderColor: "#a855f7", pointRadius: 0 },
          { label: "GPU %", data: [], borderColor: "#22c55e", pointRadius: 0 },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: false,
        normalized: true,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: {
            type: "linear",
            ticks: { color: text, maxTicksLimit: 6, callback: (value) => formatAge(Number(value), Date.now()) },
            grid: { color: grid },
          },
          y: { min: 0, max: 100, ticks: { color: text }, grid: { color: grid } },
        },
        plugins: { legend: { labels: { color: text } } },
      },
    });
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    const current = chart.current;
    if (current === null) return;
    const cpu: { x: number; y: number }[] = [];
    const memory: { x: number; y: number }[] = [];
    const gpu: { x: number; y: number }[] = [];
    for (const sample of history) {
      const x = timestampMs(sample.sampledAt);
      if (!Number.isFinite(x)) continue;
      cpu.push({ x, y: (sample.cpuUtilization ?? 0) * 100 });
      if (memoryTotal > 0) memory.push({ x, y: (Number(sample.memoryUsedBytes ?? 0) / memoryTotal) * 100 });
      const gpus = sample.gpus ?? [];
      if (gpus.length > 0) gpu.push({ x, y: (gpus.reduce((sum, g) => sum + (g.utilization ?? 0), 0) / gpus.length) * 100 });
    }
    const [first, second, third] = current.data.datasets;
    if (first) first.data = cpu;
    if (second) second.data = memory;
    if (third) third.data = gpu;
    current.update();
  }, [history, memoryTotal]);
  return (
    <div className="chart" data-testid="telemetry-chart" data-samples={history.length}>
      <canvas ref={canvas} role="img" aria-label={`CPU, memory and GPU use over ${history.length} samples`} />
    </div>
  );
}
