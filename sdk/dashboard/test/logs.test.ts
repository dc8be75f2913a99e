import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeBase64, LogTail } from "../src/lib/logs";

function chunk(text: Uint8Array, stream: "LOG_STREAM_STDOUT" | "LOG_STREAM_STDERR" = "LOG_STREAM_STDOUT") {
  return { stream, data: Buffer.from(text).toString("base64") };
}

declare const Buffer: { from(data: Uint8Array): { toString(encoding: "base64"): string } };

test("lines are split per stream across chunks, UTF-8 split inside a character included", () => {
  const tail = new LogTail();
  const bytes = new TextEncoder().encode("héllo\nwor");
  assert.equal(tail.push(chunk(bytes.slice(0, 2))), 0);
  assert.equal(tail.push(chunk(bytes.slice(2))), 1);
  assert.equal(tail.push(chunk(new TextEncoder().encode("oops\n"), "LOG_STREAM_STDERR")), 1);
  assert.equal(tail.push(chunk(new TextEncoder().encode("ld\r\n"))), 1);
  assert.deepEqual(
    tail.view().map((line) => [line.stream, line.text]),
    [
      ["LOG_STREAM_STDOUT", "héllo"],
      ["LOG_STREAM_STDERR", "oops"],
      ["LOG_STREAM_STDOUT", "world"],
    ],
  );
  assert.equal(tail.bytes, 19);
});

test("only the newest lines are kept; an unfinished line is shown", () => {
  const tail = new LogTail(3);
  tail.push(chunk(new TextEncoder().encode("1\n2\n3\n4\n5\npartial")));
  assert.deepEqual(tail.view().map((line) => line.text), ["3", "4", "5", "partial"]);
});

test("base64 with or without padding, URL-safe too", () => {
  assert.deepEqual([...decodeBase64("aGk=")], [104, 105]);
  assert.deepEqual([...decodeBase64("aGk")], [104, 105]);
  assert.deepEqual([...decodeBase64("-_8")], [251, 255]);
});
