// The job table the views read: a snapshot from GET /v1/jobs, kept current
// by the event stream. Applying an event is idempotent, and applying a run
// of events in order over a snapshot taken anywhere inside the run ends in
// the same table as applying them all: each event sets what it carries.

import type { Attempt, Job, JobEvent, JobState } from "../../../ts/orchion";

/** States a job leaves no more. */
export const FINAL_STATES: readonly JobState[] = ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"];

export function isFinal(state: JobState | undefined): boolean {
  return state !== undefined && FINAL_STATES.includes(state);
}

/** States a running attempt can be cancelled in. */
export function isCancellable(state: JobState | undefined): boolean {
  return state === "JOB_STATE_PENDING" || state === "JOB_STATE_SCHEDULED" || state === "JOB_STATE_RUNNING";
}

export class JobTable {
  private readonly jobs = new Map<string, Job>();
  /** Ids of jobs known only from events (their spec is not loaded yet). */
  readonly partial = new Set<string>();
  /** Bumped by every change: views memoise on it. */
  version = 0;

  get size(): number {
    return this.jobs.size;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  all(): IterableIterator<Job> {
    return this.jobs.values();
  }

  /**
   * Adds or refreshes jobs from the API (a snapshot page, GetJob, SubmitJob,
   * CancelJob). A reply can be older than events already applied (it was
   * answered before they arrived): then its spec is taken and the newer
   * state kept.
   */
  upsert(jobs: readonly Job[]): void {
    for (const job of jobs) {
      if (job.id === undefined) continue;
      const current = this.jobs.get(job.id);
      this.jobs.set(job.id, current === undefined ? job : newest(current, job));
      this.partial.delete(job.id);
    }
    this.version++;
  }

  /** Forgets every job (a new snapshot follows). */
  clear(): void {
    this.jobs.clear();
    this.partial.clear();
    this.version++;
  }

  /** Applies one event; returns the job as it now is. */
  apply(event: JobEvent): Job | undefined {
    const id = event.jobId;
    if (id === undefined || id === "") return undefined;
    const before = this.jobs.get(id);
    if (before === undefined) this.partial.add(id);
    const job = applyEvent(before ?? { id, createdAt: event.at }, event);
    this.jobs.set(id, job);
    this.version++;
    return job;
  }
}

/** `incoming` (from the API), unless `current` changed later: then `incoming` with `current`'s state. */
export function newest(current: Job, incoming: Job): Job {
  if (!(timestampMs(current.updatedAt) > timestampMs(incoming.updatedAt))) return incoming;
  const merged: Job = { ...incoming };
  for (const key of ["state", "reason", "attempts", "updatedAt", "pendingReasons"] as const) {
    if (current[key] === undefined) delete merged[key];
    else Object.assign(merged, { [key]: current[key] });
  }
  return merged;
}

/** `job` after `event` (a new object; `job` is not changed). */
export function applyEvent(job: Job, event: JobEvent): Job {
  const next: Job = { ...job };
  if (event.state !== undefined) next.state = event.state;
  next.reason = event.reason ?? "";
  if (event.at !== undefined) next.updatedAt = event.at;
  if (next.state !== "JOB_STATE_PENDING") delete next.pendingReasons;
  const number = event.attempt ?? 0;
  if (number > 0) {
    const attempts = [...(job.attempts ?? [])];
    let index = attempts.findIndex((attempt) => attempt.number === number);
    if (index < 0) {
      attempts.push({ number });
      attempts.sort((a, b) => (a.number ?? 0) - (b.number ?? 0));
      index = attempts.findIndex((attempt) => attempt.number === number);
    }
    const attempt: Attempt = { ...attempts[index] };
    if (event.nodeId) attempt.nodeId = event.nodeId;
    if (event.state !== undefined && event.state !== "JOB_STATE_PENDING") attempt.state = event.state;
    if (event.state === "JOB_STATE_RUNNING" && attempt.startedAt === undefined && event.at !== undefined) {
      attempt.startedAt = event.at;
    }
    const ended = isFinal(event.state) || event.state === "JOB_STATE_LOST";
    if (ended && attempt.finishedAt === undefined && event.at !== undefined) attempt.finishedAt = event.at;
    if (event.exitCode !== undefined) attempt.exitCode = event.exitCode;
    if (event.signal !== undefined) attempt.signal = event.signal;
    if (event.reason && event.state !== "JOB_STATE_PENDING") attempt.reason = event.reason;
    attempts[index] = attempt;
    next.attempts = attempts;
  }
  return next;
}

/** The node a job's latest attempt ran on, if any. */
export function jobNode(job: Job): string | undefined {
  const attempts = job.attempts ?? [];
  return attempts[attempts.length - 1]?.nodeId;
}

export interface JobFilter {
  state?: JobState | undefined;
  node?: string | undefined;
  /** "key=value" or "key" matched against the spec's constraints, or text in the name/command/id. */
  text?: string | undefined;
}

/** The jobs matching `filter`, newest first. */
export function filterJobs(jobs: Iterable<Job>, filter: JobFilter): Job[] {
  const text = filter.text?.trim().toLowerCase() ?? "";
  const out: Job[] = [];
  for (const job of jobs) {
    if (filter.state !== undefined && job.state !== filter.state) continue;
    if (filter.node && jobNode(job) !== filter.node) continue;
    if (text && !matchesText(job, text)) continue;
    out.push(job);
  }
  out.sort(newestFirst);
  return out;
}

function matchesText(job: Job, text: string): boolean {
  const equals = text.indexOf("=");
  const constraints = job.spec?.constraints ?? {};
  if (equals > 0) {
    const key = text.slice(0, equals);
    const value = text.slice(equals + 1);
    return Object.entries(constraints).some(([k, v]) => k.toLowerCase() === key && v.toLowerCase() === value);
  }
  const fields = [job.id, job.spec?.name, job.spec?.command, ...(job.spec?.argv ?? []), ...Object.keys(constraints)];
  return fields.some((field) => field !== undefined && field.toLowerCase().includes(text));
}

/** Newest first by creation time, then by id (ids of one second sort by creation). */
export function newestFirst(a: Job, b: Job): number {
  const x = a.createdAt ?? "";
  const y = b.createdAt ?? "";
  if (x !== y) return (timestampMs(y) || 0) - (timestampMs(x) || 0);
  return (b.id ?? "").localeCompare(a.id ?? "");
}

/** Milliseconds since the epoch of an RFC 3339 timestamp (any fraction length); NaN when unreadable. */
export function timestampMs(text: string | undefined): number {
  if (text === undefined || text === "") return Number.NaN;
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (match === null) return Number.NaN;
  const whole = Date.parse(`${match[1]}${match[3]}`);
  const fraction = match[2] === undefined ? 0 : Number(`0${match[2]}`);
  return whole + Math.floor(fraction * 1000);
}
