// The dashboard's state: nodes, jobs, plugins and the connection, fed by
// one event stream (jobs) plus snapshots when a connection (re)starts and a
// node refresh while the tab is visible (the API has no node event stream).

import type { Job, JobEvent, Node, Plugin, SchedulerSettings } from "../../../ts/orchion";
import { API, APIError } from "../lib/api";
import { Backoff } from "../lib/backoff";
import { JobTable } from "../lib/jobs";
import { EventStream, type StreamState } from "../lib/stream";

export type Connection =
  | { kind: "live" }
  | { kind: "syncing" }
  | { kind: "reconnecting"; detail: string; retryInMs?: number }
  | { kind: "unauthorized"; detail: string };

/** The User Timing mark set when the first job list has loaded (the bench reads it). */
export const JOBS_LOADED = "orchion:jobs-loaded";

/** How often nodes are refreshed while the tab is visible, ms. */
const NODE_REFRESH_MS = 2000;
/** More jobs than this to load at once: reload the list instead. */
const SPEC_BATCH_LIMIT = 20;
/** Events kept per job for its timeline. */
const TIMELINE_LIMIT = 200;

export class Store {
  readonly api: API;
  readonly jobs = new JobTable();
  nodes = new Map<string, Node>();
  nodesVersion = 0;
  plugins: Plugin[] = [];
  scheduler: SchedulerSettings = {};
  connection: Connection = { kind: "syncing" };
  /** Events seen per job since the page loaded, oldest first. */
  readonly timelines = new Map<string, JobEvent[]>();
  /** Set when a snapshot failed, cleared when one succeeds. */
  private syncError: string | undefined;
  /** The stream connection whose snapshot loaded (live once it is the current one). */
  private syncedConnection = 0;
  private streamState: StreamState = { phase: "closed", connections: 0 };
  private readonly stream: EventStream;
  private readonly listeners = new Set<() => void>();
  private nodeTimer: number | undefined;
  private nodeRefreshQueued = false;
  private nodesInFlight = false;
  private lastNodeRefresh = 0;
  private readonly fetching = new Set<string>();
  private readonly specQueue = new Set<string>();
  private specTimer: number | undefined;
  private stopped = false;
  private notifyQueued = false;

  constructor(token: string) {
    this.api = new API(token);
    this.stream = new EventStream({
      base: "",
      token,
      fetch: (url, init) => fetch(url, init),
      timers: {
        setTimeout: (callback, ms) => window.setTimeout(callback, ms),
        clearTimeout: (handle) => window.clearTimeout(handle as number),
        now: () => Date.now(),
      },
      backoff: new Backoff({ initial: 500, max: 15_000, random: Math.random }),
      onEvent: (event) => this.onEvent(event),
      onState: (state) => {
        this.streamState = state;
        this.updateConnection();
      },
      onConnect: (resumed) => void this.resync(resumed),
    });
  }

  /** Subscribes to changes (for useSyncExternalStore); returns the unsubscribe. */
  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** A number that changes whenever anything does. */
  private revision = 0;
  snapshot = (): number => this.revision;

  /** Coalesces the changes of a frame (a burst of events) into one render. */
  changed(): void {
    this.revision++;
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    window.requestAnimationFrame(() => {
      this.notifyQueued = false;
      for (const listener of this.listeners) listener();
    });
  }

  start(): void {
    this.stream.start();
    this.nodeTimer = window.setInterval(() => {
      // Larger clusters are refreshed less often (1,000 nodes: every 4 s).
      const due = this.lastNodeRefresh + Math.max(NODE_REFRESH_MS, this.nodes.size * 4);
      if (document.visibilityState === "visible" && Date.now() >= due) void this.refreshNodes();
    }, 1000);
    void this.refreshPlugins();
  }

  stop(): void {
    this.stopped = true;
    this.stream.close();
    if (this.nodeTimer !== undefined) window.clearInterval(this.nodeTimer);
  }

  retryNow(): void {
    this.stream.retryNow();
  }

  private onEvent(event: JobEvent): void {
    const job = this.jobs.apply(event);
    if (job?.id !== undefined) {
      const timeline = this.timelines.get(job.id) ?? [];
      timeline.push(event);
      if (timeline.length > TIMELINE_LIMIT) timeline.shift();
      this.timelines.set(job.id, timeline);
      if (this.jobs.partial.has(job.id)) this.queueSpecLoad(job.id);
    }
    // Placement and completion change what nodes hold.
    this.queueNodeRefresh();
    this.changed();
  }

  private queueNodeRefresh(): void {
    if (this.nodeRefreshQueued) return;
    this.nodeRefreshQueued = true;
    window.setTimeout(() => {
      this.nodeRefreshQueued = false;
      void this.refreshNodes();
    }, 1000);
  }

  /**
   * Jobs known only from events get their spec loaded, in batches: a few
   * one by one, a burst (a script submitting thousands) by reloading the
   * job list page by page instead of thousands of single requests.
   */
  private queueSpecLoad(id: string): void {
    this.specQueue.add(id);
    if (this.specTimer !== undefined) return;
    this.specTimer = window.setTimeout(() => {
      this.specTimer = undefined;
      const ids = [...this.specQueue];
      this.specQueue.clear();
      if (ids.length > SPEC_BATCH_LIMIT) {
        void this.api.allJobs((page) => {
          this.jobs.upsert(page);
          this.changed();
        });
      } else {
        for (const queued of ids) void this.fetchJob(queued);
      }
    }, 250);
  }

  /** Loads one job (known from an event only, or changed) in full. */
  async fetchJob(id: string): Promise<Job | undefined> {
    if (this.fetching.has(id)) return undefined;
    this.fetching.add(id);
    try {
      const job = await this.api.job(id);
      this.jobs.upsert([job]);
      this.changed();
      return job;
    } catch {
      return undefined;
    } finally {
      this.fetching.delete(id);
    }
  }

  /** After a (re)connect: nodes always; jobs in full when the stream cannot resume. */
  private async resync(resumed: boolean): Promise<void> {
    const connection = this.streamState.connections;
    try {
      await this.refreshNodes(true);
      if (!resumed) {
        const loaded: Job[] = [];
        await this.api.allJobs((page) => loaded.push(...page));
        // Events that arrived while the pages loaded are newer than nothing in
        // the snapshot; they are applied again on top of it below.
        const seen = [...this.timelines.values()].flat().sort((a, b) => Number(BigInt(a.sequence ?? "0") - BigInt(b.sequence ?? "0")));
        this.jobs.clear();
        this.jobs.upsert(loaded);
        for (const event of seen) this.jobs.apply(event);
        if (performance.getEntriesByName(JOBS_LOADED).length === 0) performance.mark(JOBS_LOADED);
      }
      // Specs that failed to load while the server was away.
      for (const id of [...this.jobs.partial]) this.queueSpecLoad(id);
      this.syncError = undefined;
      this.syncedConnection = connection;
      void this.refreshPlugins();
    } catch (error) {
      this.syncError = error instanceof Error ? error.message : String(error);
      if (error instanceof APIError && error.unauthorized) this.connection = { kind: "unauthorized", detail: error.message };
    }
    this.updateConnection();
  }

  async refreshNodes(throwing = false): Promise<void> {
    if (this.stopped || (this.nodesInFlight && !throwing)) return;
    this.nodesInFlight = true;
    this.lastNodeRefresh = Date.now();
    try {
      const reply = await this.api.nodes();
      const next = new Map<string, Node>();
      for (const node of reply.nodes ?? []) if (node.id !== undefined) next.set(node.id, node);
      this.nodes = next;
      this.nodesVersion++;
      if (this.syncError !== undefined && !throwing) {
        this.syncError = undefined;
        this.updateConnection();
      }
      this.changed();
    } catch (error) {
      if (throwing) throw error;
    } finally {
      this.nodesInFlight = false;
    }
  }

  async refreshPlugins(): Promise<void> {
    try {
      const [plugins, scheduler] = await Promise.all([this.api.plugins(), this.api.scheduler()]);
      this.plugins = plugins.plugins ?? [];
      this.scheduler = scheduler;
      this.changed();
    } catch {
      // Shown as stale; the next resync tries again.
    }
  }

  private updateConnection(): void {
    const state = this.streamState;
    if (state.phase === "unauthorized") {
      this.connection = { kind: "unauthorized", detail: state.error ?? "the token was refused" };
    } else if (this.connection.kind === "unauthorized") {
      // Stays until the user signs in again.
    } else if (state.phase === "waiting") {
      const connection: Connection = { kind: "reconnecting", detail: state.error ?? "connection lost" };
      if (state.retryInMs !== undefined) connection.retryInMs = state.retryInMs;
      this.connection = connection;
    } else if (this.syncError !== undefined) {
      this.connection = { kind: "reconnecting", detail: this.syncError };
    } else if ((state.phase === "open" || state.phase === "connecting") && this.syncedConnection === state.connections) {
      this.connection = { kind: "live" };
    } else {
      this.connection = { kind: "syncing" };
    }
    this.changed();
  }
}
