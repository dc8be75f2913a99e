// The live event stream: GET /v1/events read with fetch (the token goes in
// the Authorization header, never in the URL), parsed as SSE, resumed after
// the last sequence seen when the connection drops, with backoff.

import type { JobEvent } from "../../../ts/orchion";
import { Backoff } from "./backoff";
import { SSEParser } from "./sse";

/** Where the stream is. */
export type StreamPhase =
  /** A request is out; no byte of the answer yet (the server answers with its first event). */
  | "connecting"
  /** Events are arriving. */
  | "open"
  /** The connection dropped; the next try waits `retryInMs`. */
  | "waiting"
  /** The token was refused (401/403): no more tries. */
  | "unauthorized"
  /** `close` was called. */
  | "closed";

export interface StreamState {
  phase: StreamPhase;
  /** Why the last connection ended, when it did. */
  error?: string;
  /** For "waiting": the delay before the next try, ms. */
  retryInMs?: number;
  /** Connections started so far (1 for the first). */
  connections: number;
}

/** The `after` that skips every retained event: only new ones are sent. */
export const LIVE_ONLY = "18446744073709551615";

/** Compares two uint64 sequence numbers written as decimal strings. */
export function compareSequence(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Which events to ask for: after the last sequence seen, or — before any
 * event was seen — only new ones (the views load a snapshot instead).
 */
export function resumeQuery(lastSequence: string | undefined): string {
  return `after=${encodeURIComponent(lastSequence ?? LIVE_ONLY)}`;
}

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export interface EventStreamOptions {
  /** The server's origin plus path prefix ("" for the page's origin). */
  base: string;
  token: string;
  fetch: (url: string, init: RequestInit) => Promise<Response>;
  timers: Timers;
  backoff: Backoff;
  /** Each event, in order, once (duplicates after a resume are dropped). */
  onEvent: (event: JobEvent) => void;
  /** Every change of `state`. */
  onState: (state: StreamState) => void;
  /** A connection is starting; `resumed` is false when no event was seen yet (the views need a snapshot). */
  onConnect?: (resumed: boolean) => void;
  /** A connection that lasted this long resets the backoff, ms. */
  healthyAfterMs?: number;
}

/** One logical event stream over as many connections as it takes. */
export class EventStream {
  private lastSequence: string | undefined;
  private abort: AbortController | undefined;
  private timer: unknown;
  private state: StreamState = { phase: "closed", connections: 0 };
  private stopped = false;

  constructor(private readonly options: EventStreamOptions) {}

  /** The newest sequence applied, if any. */
  get sequence(): string | undefined {
    return this.lastSequence;
  }

  get current(): StreamState {
    return this.state;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  close(): void {
    this.stopped = true;
    this.abort?.abort();
    if (this.timer !== undefined) this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.set({ phase: "closed", connections: this.state.connections });
  }

  /** Drops the wait and connects now (the user clicked "retry"). */
  retryNow(): void {
    if (this.state.phase !== "waiting") return;
    if (this.timer !== undefined) this.options.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.connect();
  }

  private set(state: StreamState): void {
    this.state = state;
    this.options.onState(state);
  }

  private connect(): void {
    if (this.stopped) return;
    this.timer = undefined;
    const abort = new AbortController();
    this.abort = abort;
    const connections = this.state.connections + 1;
    this.set({ phase: "connecting", connections });
    this.options.onConnect?.(this.lastSequence !== undefined);
    const started = this.options.timers.now();
    void this.run(abort, connections).then(
      (ending) => this.ended(abort, started, ending),
      (error: unknown) => this.ended(abort, started, { error: describe(error) }),
    );
  }

  private async run(abort: AbortController, connections: number): Promise<Ending> {
    const url = `${this.options.base}/v1/events?${resumeQuery(this.lastSequence)}`;
    const response = await this.options.fetch(url, {
      headers: { Authorization: `Bearer ${this.options.token}`, Accept: "text/event-stream" },
      signal: abort.signal,
      cache: "no-store",
    });
    if (response.status === 401 || response.status === 403) {
      return { unauthorized: true, error: await errorText(response) };
    }
    if (!response.ok || response.body === null) {
      return { error: `HTTP ${response.status}: ${await errorText(response)}` };
    }
    this.set({ phase: "open", connections });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SSEParser();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { error: "the server ended the stream" };
      for (const message of parser.push(decoder.decode(value, { stream: true }))) {
        if (message.event === "error") return { error: serverError(message.data), immediate: isOverflow(message.data) };
        if (message.event !== "job") continue;
        let event: JobEvent;
        try {
          event = JSON.parse(message.data) as JobEvent;
        } catch {
          return { error: "the server sent an event that is not JSON" };
        }
        const sequence = event.sequence ?? "0";
        if (this.lastSequence !== undefined && compareSequence(sequence, this.lastSequence) <= 0) continue;
        this.lastSequence = sequence;
        this.options.onEvent(event);
      }
    }
  }

  private ended(abort: AbortController, started: number, ending: Ending): void {
    if (this.stopped || abort !== this.abort) return;
    abort.abort();
    if (ending.unauthorized) {
      const state: StreamState = { phase: "unauthorized", connections: this.state.connections };
      if (ending.error !== undefined) state.error = ending.error;
      this.set(state);
      return;
    }
    const healthy = this.options.healthyAfterMs ?? 10_000;
    if (this.options.timers.now() - started >= healthy) this.options.backoff.reset();
    const delay = ending.immediate ? 0 : this.options.backoff.next();
    const state: StreamState = { phase: "waiting", retryInMs: delay, connections: this.state.connections };
    if (ending.error !== undefined) state.error = ending.error;
    this.set(state);
    this.timer = this.options.timers.setTimeout(() => this.connect(), delay);
  }
}

interface Ending {
  error?: string;
  unauthorized?: boolean;
  /** Reconnect without waiting (the server asked for a resume). */
  immediate?: boolean;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

async function errorText(response: Response): Promise<string> {
  try {
    const body = (await response.json()) as { message?: unknown };
    return typeof body.message === "string" ? body.message : response.statusText;
  } catch {
    return response.statusText;
  }
}

function serverError(data: string): string {
  try {
    const body = JSON.parse(data) as { code?: unknown; message?: unknown };
    return `${String(body.code)}: ${String(body.message)}`;
  } catch {
    return data;
  }
}

/** The server ends a watcher that fell behind with RESOURCE_EXHAUSTED: resume at once. */
function isOverflow(data: string): boolean {
  try {
    return (JSON.parse(data) as { code?: unknown }).code === "RESOURCE_EXHAUSTED";
  } catch {
    return false;
  }
}
