import type { JobState, NodeState } from "../../../ts/orchion";
import { formatPercent, stateName } from "../lib/format";
import type { Badge } from "../lib/nodes";

export function StatePill({ state }: { state: JobState | NodeState | undefined }) {
  const name = stateName(state);
  return (
    <span className={`pill state-${name}`} data-testid="state">
      {name}
    </span>
  );
}

/** A usage bar with its percentage; `label` is its accessible description. */
export function Meter({ value, label }: { value: number | undefined; label: string }) {
  if (value === undefined) return <span className="muted">—</span>;
  const clamped = Math.min(Math.max(value, 0), 1);
  return (
    <span className="meter" title={label}>
      <meter min={0} max={1} value={clamped} aria-label={label} className={clamped > 0.9 ? "high" : ""} />
      <span className="num">{formatPercent(clamped)}</span>
    </span>
  );
}

export function Badges({ badges }: { badges: readonly Badge[] }) {
  if (badges.length === 0) return <span className="muted">—</span>;
  return (
    <span className="badges">
      {badges.map((badge) => (
        <span key={badge.label} className={`badge badge-${badge.kind}`} title={badge.title} data-testid="badge">
          {badge.label}
        </span>
      ))}
    </span>
  );
}
