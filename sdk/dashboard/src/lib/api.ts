// The REST API with a bearer token. Errors carry the server's code and message.

import type {
  Job,
  ListJobsResponse,
  ListNodesResponse,
  ListPluginsResponse,
  Node,
  SchedulerSettings,
  SubmitJobRequest,
} from "../../../ts/orchion";

/** An error the API answered (or the network gave). */
export class APIError extends Error {
  constructor(
    /** HTTP status; 0 when no answer came. */
    readonly status: number,
    /** The server's code ("NOT_FOUND", ...), or "UNAVAILABLE" for a network failure. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  get unauthorized(): boolean {
    return this.status === 401;
  }

  /** The token is valid but its scope does not allow the call (HTTP 403). */
  get forbidden(): boolean {
    return this.status === 403;
  }
}

/**
 * A failed action as the user should read it: a call the token's scope does
 * not allow says so first, with the server's words (which name the scope
 * needed and the token's); other API errors as `CODE: message`.
 */
export function describeFailure(error: unknown): string {
  if (!(error instanceof APIError)) return error instanceof Error ? error.message : String(error);
  if (error.forbidden) return `Not allowed with this token: ${error.message}`;
  return `${error.code}: ${error.message}`;
}

export class API {
  constructor(
    private readonly token: string,
    private readonly base = "",
  ) {}

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
    const init: RequestInit = { method, headers, cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (signal !== undefined) init.signal = signal;
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, init);
    } catch (error) {
      throw new APIError(0, "UNAVAILABLE", `the server did not answer (${error instanceof Error ? error.message : String(error)})`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new APIError(response.status, "INTERNAL", `expected JSON from ${path}, found ${text.slice(0, 80)}`);
    }
    if (!response.ok) {
      const error = parsed as { code?: unknown; message?: unknown };
      throw new APIError(
        response.status,
        typeof error.code === "string" ? error.code : `HTTP_${response.status}`,
        typeof error.message === "string" ? error.message : response.statusText,
      );
    }
    return parsed as T;
  }

  nodes(): Promise<ListNodesResponse> {
    return this.call("GET", "/v1/nodes");
  }

  node(id: string): Promise<Node> {
    return this.call("GET", `/v1/nodes/${encodeURIComponent(id)}`);
  }

  nodeOperation(id: string, verb: "drain" | "cordon" | "uncordon"): Promise<Node> {
    return this.call("POST", `/v1/nodes/${encodeURIComponent(id)}:${verb}`, {});
  }

  jobsPage(pageToken: string, pageSize = 1000): Promise<ListJobsResponse> {
    const query = `page_size=${pageSize}${pageToken ? `&page_token=${encodeURIComponent(pageToken)}` : ""}`;
    return this.call("GET", `/v1/jobs?${query}`);
  }

  /** Every job, page by page; `onPage` sees each page as it arrives. */
  async allJobs(onPage: (jobs: Job[]) => void): Promise<void> {
    let token = "";
    for (let pages = 0; pages < 10_000; pages++) {
      const page = await this.jobsPage(token);
      onPage(page.jobs ?? []);
      token = page.nextPageToken ?? "";
      if (!token) return;
    }
  }

  job(id: string): Promise<Job> {
    return this.call("GET", `/v1/jobs/${encodeURIComponent(id)}`);
  }

  submit(request: SubmitJobRequest): Promise<Job> {
    return this.call("POST", "/v1/jobs", request);
  }

  cancel(id: string, reason: string): Promise<Job> {
    return this.call("POST", `/v1/jobs/${encodeURIComponent(id)}:cancel`, { reason });
  }

  plugins(): Promise<ListPluginsResponse> {
    return this.call("GET", "/v1/plugins");
  }

  scheduler(): Promise<SchedulerSettings> {
    return this.call("GET", "/v1/scheduler");
  }

  setDefaultStrategy(name: string): Promise<SchedulerSettings> {
    return this.call("POST", "/v1/scheduler", { defaultStrategy: name });
  }

  /** Opens a job's log stream (SSE of LogChunk); the caller reads the body. */
  logs(id: string, offset: string, signal: AbortSignal): Promise<Response> {
    return fetch(`${this.base}/v1/jobs/${encodeURIComponent(id)}/logs?follow=true&offset=${encodeURIComponent(offset)}`, {
      headers: { Authorization: `Bearer ${this.token}`, Accept: "text/event-stream" },
      signal,
      cache: "no-store",
    });
  }
}
