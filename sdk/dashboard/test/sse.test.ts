import assert from "node:assert/strict";
import { test } from "node:test";
import { SSEParser } from "../src/lib/sse";

test("events split anywhere across chunks come out whole and in order", () => {
  const text = "event: job\ndata: {\"a\":1}\n\n: a comment\nevent: job\ndata: {\"a\":2}\n\n";
  for (let cut = 0; cut <= text.length; cut++) {
    const parser = new SSEParser();
    const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
    assert.deepEqual(
      events.map((event) => [event.event, event.data]),
      [
        ["job", '{"a":1}'],
        ["job", '{"a":2}'],
      ],
      `cut at ${cut}`,
    );
  }
});

test("CRLF and CR line ends, a CRLF split between chunks, multi-line data, default name, id", () => {
  const parser = new SSEParser();
  const events = [
    ...parser.push("data: one\r"),
    ...parser.push("\ndata: two\r\rid: 7\r\ndata:x\n\n"),
  ];
  assert.deepEqual(events, [
    { event: "message", data: "one\ntwo" },
    { event: "message", data: "x", id: "7" },
  ]);
});

test("a block without data dispatches nothing; unknown fields are ignored", () => {
  const parser = new SSEParser();
  assert.deepEqual(parser.push("event: job\nretry: 10\nfoo: bar\n\n"), []);
  assert.deepEqual(parser.push("data\n\n"), [{ event: "message", data: "" }]);
});
