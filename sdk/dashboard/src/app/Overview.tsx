import { useEffect, useMemo } from "react";
import type { Node } from "../../../ts/orchion";
import { formatAge, formatBytes, formatPercent, stateName } from "../lib/format";
import { hardwareBadges, nodeUsage } from "../lib/nodes";
import { timestampMs } from "../lib/jobs";
import { href, useNow } from "./hooks";
import type { Store } from "./store";
import { VirtualList } from "./VirtualList";
import { Badges, Meter, StatePill } from "./widgets";

/** Names in natural order: host-2 before host-10. */
const NAME_ORDER = new Intl.Collator(undefined, { numeric: true });

/** The User Timing mark set when the node table first shows rows. */
export const NODES_RENDERED = "orchion:nodes-rendered";

/** Every node with its state, heartbeat age (ticking), usage and hardware. */
export function Overview({ store }: { store: Store }) {
  const now = useNow(1000);
  const version = store.nodesVersion;
  const nodes = useMemo(
    () => [...store.nodes.values()].sort((a, b) => NAME_ORDER.compare(a.hostname || a.id || "", b.hostname || b.id || "")),
    [version],
  );
  // User Timing: when the node table first had rows (the bench reads it).
  const shown = nodes.length > 0;
  useEffect(() => {
    if (shown && performance.getEntriesByName(NODES_RENDERED).length === 0) performance.mark(NODES_RENDERED);
  }, [shown]);
  const counts = useMemo(() => {
    const result = new Map<string, number>();
    for (const node of nodes) result.set(stateName(node.state), (result.get(stateName(node.state)) ?? 0) + 1);
    return result;
  }, [nodes]);
  const jobCounts = useMemo(() => {
    const result = new Map<string, number>();
    for (const job of store.jobs.all()) result.set(stateName(job.state), (result.get(stateName(job.state)) ?? 0) + 1);
    return result;
  }, [store.jobs.version]);
  return (
    <section aria-labelledby="overview-title" className="page">
      <h1 id="overview-title">Cluster</h1>
      <dl className="summary">
        <Stat label="Nodes" value={nodes.length} />
        <Stat label="Ready" value={counts.get("ready") ?? 0} tone="ok" />
        <Stat label="Suspect" value={counts.get("suspect") ?? 0} tone="warn" />
        <Stat label="Down" value={counts.get("down") ?? 0} tone="bad" />
        <Stat label="Running jobs" value={jobCounts.get("running") ?? 0} />
        <Stat label="Pending jobs" value={jobCounts.get("pending") ?? 0} tone={(jobCounts.get("pending") ?? 0) > 0 ? "warn" : undefined} />
      </dl>
      <VirtualList
        items={nodes}
        rowHeight={44}
        label="Nodes"
        testId="node-table"
        empty={<p>No node has joined yet. Start an agent with <code>orchion agent run</code>.</p>}
        header={
          <div role="row" className="row nodes-grid">
            <span role="columnheader">Node</span>
            <span role="columnheader">State</span>
            <span role="columnheader">Heartbeat</span>
            <span role="columnheader" className="wide">CPU</span>
            <span role="columnheader" className="wide">Memory</span>
            <span role="columnheader" className="wide">GPU</span>
            <span role="columnheader" className="wide">Arch</span>
            <span role="columnheader">Hardware</span>
            <span role="columnheader" className="wide">Jobs</span>
          </div>
        }
        row={(node) => <NodeRow key={node.id} node={node} now={now} />}
      />
    </section>
  );
}

function Stat({ label, value, tone }: { label: string; value: number; tone?: "ok" | "warn" | "bad" | undefined }) {
  return (
    <div className={`stat ${tone ?? ""}`}>
      <dt>{label}</dt>
      <dd>{value.toLocaleString()}</dd>
    </div>
  );
}

function NodeRow({ node, now }: { node: Node; now: number }) {
  const usage = nodeUsage(node);
  const memoryTotal = node.capabilities?.memoryBytes;
  return (
    <div role="row" className="row nodes-grid" data-node={node.id} data-state={stateName(node.state)}>
      <span role="cell" className="name">
        <a href={href("nodes", node.id ?? "")}>{node.hostname || node.id}</a>
        {node.hostname && node.hostname !== node.id && <span className="muted mono small node-id">{node.id}</span>}
        {node.cordoned && <span className="tag">cordoned</span>}
      </span>
      <span role="cell">
        <StatePill state={node.state} />
      </span>
      <span role="cell" className="age" data-testid="heartbeat" title={node.lastHeartbeat}>
        {formatAge(timestampMs(node.lastHeartbeat), now)}
      </span>
      <span role="cell" className="wide">
        <Meter value={usage.cpu} label={`CPU ${formatPercent(usage.cpu)} of ${node.capabilities?.cpuCores ?? "?"} cores`} />
      </span>
      <span role="cell" className="wide">
        <Meter
          value={usage.memory}
          label={`Memory ${formatBytes(node.telemetry?.memoryUsedBytes)} of ${formatBytes(memoryTotal)}`}
        />
      </span>
      <span role="cell" className="wide">
        {usage.gpu === undefined ? <span className="muted">—</span> : <Meter value={usage.gpu} label={`GPU ${formatPercent(usage.gpu)}`} />}
      </span>
      <span role="cell" className="wide mono">{node.capabilities?.arch ?? "?"}</span>
      <span role="cell">
        <Badges badges={hardwareBadges(node)} />
      </span>
      <span role="cell" className="wide num">{node.jobs ?? 0}</span>
    </div>
  );
}
