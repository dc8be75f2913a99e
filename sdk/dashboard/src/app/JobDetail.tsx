import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { Job, LogChunk } from "../../../ts/orchion";
import { describeFailure } from "../lib/api";
import { commandLine, formatBytes, formatCPU, formatDuration, formatProtoDuration, stateName } from "../lib/format";
import { isCancellable, isFinal, timestampMs } from "../lib/jobs";
import { LogTail, type LogLine } from "../lib/logs";
import { SSEParser } from "../lib/sse";
import { href, useNow } from "./hooks";
import type { Store } from "./store";
import { StatePill } from "./widgets";

/** One job: spec, attempts, event timeline, live log tail, cancel. */
export function JobDetail({ store, id }: { store: Store; id: string }) {
  const [error, setError] = useState<string | null>(null);
  const [cancelling, setCancelling] = useState(false);
  useEffect(() => {
    store.fetchJob(id).then(
      (job) => {
        if (job === undefined && store.jobs.get(id) === undefined) setError(`no job ${id}`);
      },
      () => undefined,
    );
  }, [store, id]);
  const job = store.jobs.get(id);
  // While pending, each new reason is worth the per-reason node counts GetJob has.
  const pendingReason = job?.state === "JOB_STATE_PENDING" ? job.reason : undefined;
  useEffect(() => {
    if (pendingReason !== undefined) void store.fetchJob(id);
  }, [store, id, pendingReason]);
  if (job === undefined) {
    return (
      <section className="page">
        <h1>Job {id}</h1>
        <p className={error ? "error" : "muted"}>{error ?? "Loading…"}</p>
      </section>
    );
  }
  async function cancel() {
    setCancelling(true);
    setError(null);
    try {
      store.jobs.upsert([await store.api.cancel(id, "cancelled from the dashboard")]);
      store.changed();
    } catch (failure) {
      setError(describeFailure(failure));
    } finally {
      setCancelling(false);
    }
  }
  const spec = job.spec ?? {};
  const timeline = store.timelines.get(id) ?? [];
  return (
    <section className="page" aria-labelledby="job-title">
      <p className="crumbs">
        <a href={href("jobs")}>Jobs</a> / job
      </p>
      <h1 id="job-title">
        {spec.name || job.id} <StatePill state={job.state} />
      </h1>
      <div className="actions">
        {isCancellable(job.state) && (
          <button type="button" className="danger" onClick={() => void cancel()} disabled={cancelling} data-testid="cancel">
            {cancelling ? "Cancelling…" : "Cancel job"}
          </button>
        )}
      </div>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      {job.state === "JOB_STATE_PENDING" && (
        <div className="why-box" data-testid="why-pending-detail">
          <strong>Why pending:</strong> {job.reason || "waiting for the scheduler"}
          {(job.pendingReasons ?? []).length > 0 && (
            <ul>
              {(job.pendingReasons ?? []).map((reason) => (
                <li key={reason.reason}>
                  {reason.nodes} node{reason.nodes === 1 ? "" : "s"} {reason.reason}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <div className="cards">
        <dl className="card facts">
          <dt>Job id</dt>
          <dd className="mono">{job.id}</dd>
          <dt>Submitted by</dt>
          <dd data-testid="submitted-by">{job.submittedBy ? `token '${job.submittedBy}'` : "not recorded"}</dd>
          <dt>Command</dt>
          <dd className="mono">{commandLine(spec.command, spec.argv)}</dd>
          <dt>Resources</dt>
          <dd>
            {spec.resources === undefined && spec.gpu === undefined
              ? "none requested"
              : `${formatCPU(spec.resources?.cpuMillis)} CPU · ${formatBytes(spec.resources?.memoryBytes)} · ` +
                `${spec.gpu?.count ?? 0} GPU${spec.gpu?.model ? ` (${spec.gpu.model})` : ""}`}
          </dd>
          <dt>Constraints</dt>
          <dd>
            {Object.entries(spec.constraints ?? {}).map(([key, value]) => (
              <span key={key} className="tag mono">
                {key}={value}
              </span>
            ))}
            {spec.arch ? <span className="tag mono">arch={spec.arch}</span> : null}
            {Object.keys(spec.constraints ?? {}).length === 0 && !spec.arch ? "none" : null}
          </dd>
          <dt>Strategy</dt>
          <dd>{spec.strategy || "default"}</dd>
          <dt>Retries</dt>
          <dd>
            {spec.retry?.maxAttempts ?? 1} attempt(s){spec.timeout ? ` · timeout ${formatProtoDuration(spec.timeout)}` : ""}
          </dd>
          <dt>Reason</dt>
          <dd>{job.reason || "—"}</dd>
        </dl>
        <div className="card">
          <h2>Timeline</h2>
          <ol className="timeline" data-testid="timeline">
            {timeline.length === 0 && <li className="muted">No event since the page loaded.</li>}
            {timeline.map((event) => (
              <li key={event.sequence}>
                <StatePill state={event.state} /> <span className="muted">{event.at?.replace("T", " ").slice(0, 19)}</span>{" "}
                {event.nodeId ? <span className="mono">on {event.nodeId}</span> : null} {event.reason}
              </li>
            ))}
          </ol>
        </div>
      </div>
      <Attempts job={job} />
      <LogView store={store} job={job} />
    </section>
  );
}

function Attempts({ job }: { job: Job }) {
  const now = useNow(1000);
  const attempts = job.attempts ?? [];
  if (attempts.length === 0) return null;
  return (
    <table className="plain">
      <caption>Attempts</caption>
      <thead>
        <tr>
          <th>#</th>
          <th>Node</th>
          <th>State</th>
          <th>Ran for</th>
          <th>Exit</th>
          <th>Reason</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((attempt) => {
          const started = timestampMs(attempt.startedAt);
          const finished = timestampMs(attempt.finishedAt);
          const ran = Number.isFinite(started) ? (Number.isFinite(finished) ? finished : now) - started : Number.NaN;
          return (
            <tr key={attempt.number}>
              <td>{attempt.number}</td>
              <td className="mono">
                <a href={href("nodes", attempt.nodeId ?? "")}>{attempt.nodeId}</a>
              </td>
              <td>{stateName(attempt.state)}</td>
              <td>{Number.isFinite(ran) ? formatDuration(ran) : "—"}</td>
              <td>{attempt.signal ? `signal ${attempt.signal}` : (attempt.exitCode ?? (isFinal(attempt.state) ? "0" : "—"))}</td>
              <td>{attempt.reason}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** The latest attempt's output, following live; pausing freezes the view while lines keep arriving. */
function LogView({ store, job }: { store: Store; job: Job }) {
  const [, setVersion] = useState(0);
  const [paused, setPaused] = useState(false);
  const [frozen, setFrozen] = useState<LogLine[] | null>(null);
  const [status, setStatus] = useState("waiting for output…");
  const box = useRef<HTMLPreElement>(null);
  const attempt = job.attempts?.length ?? 0;
  const id = job.id ?? "";
  // A new attempt is a new stream of output, read from its start.
  const tail = useMemo(() => new LogTail(), [id, attempt]);
  useEffect(() => {
    const abort = new AbortController();
    async function follow() {
      try {
        const response = await store.api.logs(id, "0", abort.signal);
        if (!response.ok || response.body === null) {
          setStatus(`logs unavailable (HTTP ${response.status})`);
          return;
        }
        setStatus("following");
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        const parser = new SSEParser();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          for (const message of parser.push(decoder.decode(value, { stream: true }))) {
            if (message.event !== "log") continue;
            const chunk = JSON.parse(message.data) as LogChunk;
            if (tail.push(chunk) > 0) setVersion(tail.version);
          }
        }
        setStatus("ended");
      } catch (failure) {
        if (!abort.signal.aborted) setStatus(`log stream lost: ${failure instanceof Error ? failure.message : String(failure)}`);
      }
    }
    void follow();
    return () => abort.abort();
  }, [store, id, attempt, tail]);
  const lines = paused && frozen !== null ? frozen : tail.view();
  useLayoutEffect(() => {
    const element = box.current;
    if (element !== null && !paused) element.scrollTop = element.scrollHeight;
  });
  const waiting = paused ? tail.view().length - (frozen?.length ?? 0) : 0;
  return (
    <div className="logs">
      <div className="logs-head">
        <h2>Output</h2>
        <span className="muted" data-testid="log-status">
          {status}
        </span>
        <button
          type="button"
          onClick={() => {
            if (paused) {
              setFrozen(null);
              setPaused(false);
            } else {
              setFrozen(tail.view());
              setPaused(true);
            }
          }}
          aria-pressed={paused}
          data-testid="log-pause"
        >
          {paused ? `Follow${waiting > 0 ? ` (${waiting} new)` : ""}` : "Pause"}
        </button>
      </div>
      <pre ref={box} className="log" tabIndex={0} aria-label="Job output" aria-live={paused ? "off" : "polite"} data-testid="log">
        {lines.map((line) => (
          <span key={line.key} className={line.stream === "LOG_STREAM_STDERR" ? "stderr" : undefined}>
            {line.text}
            {"\n"}
          </span>
        ))}
      </pre>
    </div>
  );
}
