import { useMemo, useState } from "react";
import { JobStateValues, type Job, type JobState } from "../../../ts/orchion";
import { commandLine, formatAge, stateName } from "../lib/format";
import { filterJobs, jobNode, timestampMs } from "../lib/jobs";
import { href, useNow } from "./hooks";
import type { Store } from "./store";
import { VirtualList } from "./VirtualList";
import { StatePill } from "./widgets";

/** Every job, live, filtered by state, node and label (or text); pending ones say why. */
export function Jobs({ store }: { store: Store }) {
  const [state, setState] = useState<JobState | "">("");
  const [node, setNode] = useState("");
  const [text, setText] = useState("");
  const now = useNow(5000);
  const version = store.jobs.version;
  const jobs = useMemo(
    () => filterJobs(store.jobs.all(), { state: state || undefined, node: node || undefined, text }),
    // The table changes in place; its version says when.
    [version, state, node, text],
  );
  const nodes = [...store.nodes.keys()].sort();
  return (
    <section className="page" aria-labelledby="jobs-title">
      <h1 id="jobs-title">Jobs</h1>
      <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
        <label>
          State
          <select value={state} onChange={(event) => setState(event.target.value as JobState | "")} data-testid="state-filter">
            <option value="">any</option>
            {JobStateValues.filter((value) => value !== "JOB_STATE_UNSPECIFIED").map((value) => (
              <option key={value} value={value}>
                {stateName(value)}
              </option>
            ))}
          </select>
        </label>
        <label>
          Node
          <select value={node} onChange={(event) => setNode(event.target.value)}>
            <option value="">any</option>
            {nodes.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
        <label>
          Label or text
          <input
            type="search"
            placeholder="gpu=a100, name, id…"
            value={text}
            onChange={(event) => setText(event.target.value)}
          />
        </label>
        <span className="muted count" aria-live="polite">
          {jobs.length.toLocaleString()} of {store.jobs.size.toLocaleString()}
        </span>
      </form>
      <VirtualList
        items={jobs}
        rowHeight={44}
        label="Jobs"
        testId="job-table"
        empty={<p>No job matches. Submit one from the Submit page or with <code>orchion submit</code>.</p>}
        header={
          <div role="row" className="row jobs-grid">
            <span role="columnheader">Job</span>
            <span role="columnheader">State</span>
            <span role="columnheader" className="wide">Node</span>
            <span role="columnheader">Command · why pending</span>
            <span role="columnheader" className="wide">Updated</span>
          </div>
        }
        row={(job) => <JobRow key={job.id} job={job} now={now} />}
      />
    </section>
  );
}

function JobRow({ job, now }: { job: Job; now: number }) {
  const pending = job.state === "JOB_STATE_PENDING";
  return (
    <div role="row" className="row jobs-grid" data-job={job.id} data-state={stateName(job.state)}>
      <span role="cell" className="name">
        <a href={href("jobs", job.id ?? "")}>{job.spec?.name || job.id}</a>
      </span>
      <span role="cell">
        <StatePill state={job.state} />
      </span>
      <span role="cell" className="wide mono">{jobNode(job) ?? "—"}</span>
      <span role="cell" className="clip">
        {pending && job.reason ? (
          <span className="why" data-testid="why-pending" title={job.reason}>
            {job.reason}
          </span>
        ) : (
          <span className="mono" title={commandLine(job.spec?.command, job.spec?.argv)}>
            {commandLine(job.spec?.command, job.spec?.argv)}
          </span>
        )}
      </span>
      <span role="cell" className="wide muted">{formatAge(timestampMs(job.updatedAt ?? job.createdAt), now)}</span>
    </div>
  );
}
