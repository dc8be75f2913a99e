import { lazy, Suspense, useEffect, useState } from "react";
import type { Node } from "../../../ts/orchion";
import { APIError } from "../lib/api";
import { formatAge, formatBytes, formatCPU, formatPercent } from "../lib/format";
import { filterJobs, timestampMs } from "../lib/jobs";
import { hardwareBadges, hottest } from "../lib/nodes";
import { href, useNow } from "./hooks";
import type { Store } from "./store";
import { Badges, StatePill } from "./widgets";

// Chart.js is most of the bundle: loaded (a chunk of its own) when a node page first opens.
const TelemetryChart = lazy(() => import("./TelemetryChart"));

/** How often the node (with its telemetry history) is reloaded while shown, ms. */
const REFRESH_MS = 3000;

/** One node: hardware, allocation, telemetry charts over the kept history, its jobs. */
export function NodeDetail({ store, id }: { store: Store; id: string }) {
  const [node, setNode] = useState<Node | undefined>(store.nodes.get(id));
  const [error, setError] = useState<string | null>(null);
  const now = useNow(1000);
  useEffect(() => {
    let stopped = false;
    async function load() {
      try {
        const loaded = await store.api.node(id);
        if (!stopped) {
          setNode(loaded);
          setError(null);
        }
      } catch (failure) {
        if (!stopped) setError(failure instanceof APIError ? failure.message : String(failure));
      }
    }
    void load();
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") void load();
    }, REFRESH_MS);
    return () => {
      stopped = true;
      window.clearInterval(timer);
    };
  }, [store, id]);
  const live = store.nodes.get(id) ?? node;
  if (live === undefined) {
    return (
      <section className="page">
        <h1>Node {id}</h1>
        <p className={error ? "error" : "muted"}>{error ?? "Loading…"}</p>
      </section>
    );
  }
  const capabilities = live.capabilities ?? {};
  const jobs = filterJobs(store.jobs.all(), { node: id }).slice(0, 50);
  return (
    <section className="page" aria-labelledby="node-title">
      <p className="crumbs">
        <a href={href("nodes")}>Cluster</a> / node
      </p>
      <h1 id="node-title">
        {live.hostname || live.id} <StatePill state={live.state} />
      </h1>
      {error && <p className="error">{error}</p>}
      <div className="cards">
        <dl className="card facts">
          <dt>Node id</dt>
          <dd className="mono">{live.id}</dd>
          <dt>Heartbeat</dt>
          <dd data-testid="heartbeat">{formatAge(timestampMs(live.lastHeartbeat), now)}</dd>
          <dt>Architecture</dt>
          <dd className="mono">{capabilities.arch}</dd>
          <dt>OS</dt>
          <dd>{capabilities.os}</dd>
          <dt>CPU</dt>
          <dd>
            {capabilities.cpuCores} cores {capabilities.cpuModel ? `· ${capabilities.cpuModel}` : ""}
          </dd>
          <dt>Memory</dt>
          <dd>{formatBytes(capabilities.memoryBytes)}</dd>
          <dt>Hardware</dt>
          <dd>
            <Badges badges={hardwareBadges(live)} />
          </dd>
          <dt>Agent</dt>
          <dd>{capabilities.agentVersion}</dd>
          <dt>Executors</dt>
          <dd>{(capabilities.executors ?? []).join(", ") || "—"}</dd>
        </dl>
        <dl className="card facts">
          <dt>CPU allocated</dt>
          <dd>
            {formatCPU(live.allocated?.cpuMillis)} of {formatCPU(live.capacity?.cpuMillis)}
          </dd>
          <dt>Memory allocated</dt>
          <dd>
            {formatBytes(live.allocated?.memoryBytes)} of {formatBytes(live.capacity?.memoryBytes)}
          </dd>
          <dt>GPUs allocated</dt>
          <dd>
            {live.allocated?.gpus ?? 0} of {live.capacity?.gpus ?? 0}
          </dd>
          <dt>Load (1 min)</dt>
          <dd>{live.telemetry?.loadAverage1m?.toFixed(2) ?? "—"}</dd>
          <dt>Hottest sensor</dt>
          <dd>{hottest(live)?.toFixed(1).concat(" °C") ?? "—"}</dd>
          <dt>Labels</dt>
          <dd>
            {Object.entries(live.labels ?? {}).map(([key, value]) => (
              <span key={key} className="tag mono">
                {key}={value}
              </span>
            ))}
          </dd>
        </dl>
      </div>
      {(capabilities.gpus ?? []).length > 0 && (
        <table className="plain">
          <caption>GPUs</caption>
          <thead>
            <tr>
              <th>#</th>
              <th>Model</th>
              <th>Memory</th>
              <th>Use</th>
              <th>Allocated</th>
            </tr>
          </thead>
          <tbody>
            {(capabilities.gpus ?? []).map((gpu) => {
              const telemetry = live.telemetry?.gpus?.find((sample) => sample.index === gpu.index);
              return (
                <tr key={gpu.index ?? 0}>
                  <td>{gpu.index ?? 0}</td>
                  <td>{gpu.model}</td>
                  <td>{formatBytes(gpu.memoryBytes)}</td>
                  <td>{formatPercent(telemetry?.utilization)}</td>
                  <td>{gpu.allocated ? "yes" : "no"}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <h2>Telemetry</h2>
      <Suspense fallback={<div className="chart muted">Loading the chart…</div>}>
        <TelemetryChart history={node?.history ?? []} memoryTotal={Number(capabilities.memoryBytes ?? 0)} />
      </Suspense>
      <h2>Recent jobs</h2>
      <ul className="plain-list">
        {jobs.length === 0 && <li className="muted">No job ran here since the page loaded.</li>}
        {jobs.map((job) => (
          <li key={job.id}>
            <a href={href("jobs", job.id ?? "")} className="mono">
              {job.id}
            </a>{" "}
            {job.spec?.name} <StatePill state={job.state} />
          </li>
        ))}
      </ul>
    </section>
  );
}
