import assert from "node:assert/strict";
import { test } from "node:test";
import type { JobEvent } from "../../ts/orchion";
import { Backoff } from "../src/lib/backoff";
import { compareSequence, EventStream, LIVE_ONLY, resumeQuery, type StreamState } from "../src/lib/stream";

/** A scripted server: each connection gets the next answer. */
interface Answer {
  status?: number;
  /** SSE text chunks, then the body ends (unless `hang`). */
  chunks?: string[];
  hang?: boolean;
  throws?: string;
  /** How long the connection lasts on the test clock, ms. */
  lasts?: number;
}

function event(sequence: number, state = "JOB_STATE_RUNNING"): string {
  return `event: job\ndata: ${JSON.stringify({ jobId: "j1", state, sequence: String(sequence) })}\n\n`;
}

function harness(answers: Answer[]) {
  const urls: string[] = [];
  const headers: Record<string, string>[] = [];
  const events: JobEvent[] = [];
  const states: StreamState[] = [];
  const timers: { callback: () => void; ms: number }[] = [];
  let clock = 0;
  const stream = new EventStream({
    base: "http://server",
    token: "secret",
    fetch: async (url, init) => {
      urls.push(url);
      headers.push(init.headers as Record<string, string>);
      const answer = answers.shift() ?? { hang: true };
      clock += answer.lasts ?? 0;
      if (answer.throws !== undefined) throw new TypeError(answer.throws);
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (const chunk of answer.chunks ?? []) controller.enqueue(new TextEncoder().encode(chunk));
          if (!answer.hang) controller.close();
        },
      });
      return new Response(body, { status: answer.status ?? 200 });
    },
    timers: {
      setTimeout: (callback, ms) => timers.push({ callback, ms }),
      clearTimeout: () => undefined,
      now: () => clock,
    },
    backoff: new Backoff({ initial: 100, max: 1000, random: () => 1 }),
    onEvent: (value) => events.push(value),
    onState: (state) => states.push(state),
  });
  return {
    stream,
    urls,
    headers,
    events,
    states,
    timers,
    advance(ms: number) {
      clock += ms;
    },
  };
}

async function settle(): Promise<void> {
  for (let round = 0; round < 20; round++) await new Promise((resolve) => setTimeout(resolve, 0));
}

test("the first connection asks only for new events; the token goes in the header, not the URL", async () => {
  const h = harness([{ hang: true }]);
  h.stream.start();
  await settle();
  assert.equal(h.urls[0], `http://server/v1/events?after=${LIVE_ONLY}`);
  assert.equal(h.headers[0]?.Authorization, "Bearer secret");
  assert.ok(!h.urls[0]?.includes("secret"));
});

test("a dropped stream reconnects after a backoff and resumes after the last sequence, skipping repeats", async () => {
  const h = harness([
    { chunks: [event(5), event(6).slice(0, 20), event(6).slice(20)] },
    { throws: "connection refused" },
    { chunks: [event(6), event(7, "JOB_STATE_SUCCEEDED")], hang: true },
  ]);
  h.stream.start();
  await settle();
  assert.deepEqual(h.events.map((e) => e.sequence), ["5", "6"]);
  assert.equal(h.stream.current.phase, "waiting");
  assert.equal(h.stream.current.error, "the server ended the stream");
  assert.equal(h.timers.length, 1);
  assert.equal(h.timers[0]?.ms, 100);
  h.timers[0]?.callback();
  await settle();
  assert.equal(h.urls[1], "http://server/v1/events?after=6");
  assert.equal(h.stream.current.phase, "waiting");
  assert.equal(h.timers[1]?.ms, 200, "the second failure in a row waits longer");
  h.timers[1]?.callback();
  await settle();
  assert.equal(h.urls[2], "http://server/v1/events?after=6");
  assert.deepEqual(h.events.map((e) => e.sequence), ["5", "6", "7"], "6 again is dropped");
  assert.equal(h.stream.current.phase, "open");
  assert.equal(h.stream.sequence, "7");
  assert.deepEqual(
    h.states.map((s) => s.phase),
    ["connecting", "open", "waiting", "connecting", "waiting", "connecting", "open"],
  );
});

test("a refused token stops the stream without retrying", async () => {
  const h = harness([{ status: 401, chunks: ['{"code":"UNAUTHENTICATED","message":"invalid bearer token"}'] }]);
  h.stream.start();
  await settle();
  assert.equal(h.stream.current.phase, "unauthorized");
  assert.equal(h.stream.current.error, "invalid bearer token");
  assert.equal(h.timers.length, 0);
});

test("a watcher that fell behind resumes at once; a connection that lasted resets the backoff, a failed one does not", async () => {
  const overflow = 'event: error\ndata: {"code":"RESOURCE_EXHAUSTED","message":"resume with after=8"}\n\n';
  const h = harness([
    { chunks: [event(8), overflow] },
    { status: 503 },
    { status: 503 },
    { chunks: [event(9)], lasts: 20_000 },
    { status: 503 },
  ]);
  h.stream.start();
  await settle();
  assert.equal(h.timers[0]?.ms, 0);
  assert.match(h.stream.current.error ?? "", /RESOURCE_EXHAUSTED/);
  const delays: number[] = [];
  for (let index = 0; index < 4; index++) {
    h.timers[index]?.callback();
    await settle();
    delays.push(h.timers[index + 1]?.ms ?? -1);
  }
  assert.equal(h.urls[1], "http://server/v1/events?after=8");
  assert.equal(h.urls[4], "http://server/v1/events?after=9");
  assert.deepEqual(delays, [100, 200, 100, 200]);
});

test("resume queries and sequence order handle the full uint64 range", () => {
  assert.equal(resumeQuery(undefined), `after=${LIVE_ONLY}`);
  assert.equal(resumeQuery("42"), "after=42");
  assert.equal(compareSequence("9007199254740993", "9007199254740992"), 1);
  assert.equal(compareSequence("7", "7"), 0);
  assert.equal(compareSequence("7", "10"), -1);
});
