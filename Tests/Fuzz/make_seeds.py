#!/usr/bin/env python3
"""Writes the seed corpora under Tests/Fuzz/Corpus/<target>/ (deterministic).

Run again after changing it; the files are committed. Seeds are valid or
nearly valid inputs that reach deep code paths, so the fuzzers start there.
Each target's input layout is documented in its harness (Tests/Fuzz/Harness).
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = "fuzz-client-token"
JOIN = "fuzz-join-token"


def write(target, name, data, folder="Corpus"):
    folder = os.path.join(HERE, folder, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- http1: everything a client sends on one connection -------------------
# The server harnesses treat an input whose length is a multiple of 3 as sent
# by a peer that resets the connection mid-answer. Seeds are ordinary peers:
# their lengths are padded off multiples of 3 (trailing blanks in Host for
# HTTP/1.1, a WINDOW_UPDATE for HTTP/2); the resetting peers are regressions.
def off_three(data, pad):
    while len(data) % 3 == 0:
        data = pad(data)
    return data


def request(method, target, body=b"", token=CLIENT, extra="", host="127.0.0.1"):
    head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"
    if token is not None:
        head += f"Authorization: Bearer {token}\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + extra.encode() + b"\r\n" + body


submit = b'{"spec":{"name":"hello","argv":["echo","hi"],"resources":{"cpuMillis":500}}}'
http1 = {
    "healthz": request("GET", "/healthz", token=None),
    "list-nodes": request("GET", "/v1/nodes"),
    "get-node": request("GET", "/v1/nodes/n1"),
    "drain-node": request("POST", "/v1/nodes/n1:drain"),
    "submit-job": request("POST", "/v1/jobs", submit),
    "list-jobs-query": request("GET", "/v1/jobs?state=JOB_STATE_PENDING&page_size=10&page_token=12"),
    "get-job": request("GET", "/v1/jobs/job-1"),
    "cancel-job": request("POST", "/v1/jobs/job-1:cancel", b'{"reason":"no longer needed"}'),
    "follow-logs": request("GET", "/v1/jobs/job-1/logs?follow=false&offset=0"),
    "watch-events": request("GET", "/v1/events?job_id=job-1&after=3"),
    "list-plugins": request("GET", "/v1/plugins"),
    "no-token": request("GET", "/v1/nodes", token=None),
    "join-token": request("GET", "/v1/nodes", token=JOIN),
    "percent-path": request("GET", "/v1/nodes/n%31?x=%20+y"),
    "pipelined": request("GET", "/v1/nodes/n1") + request("POST", "/v1/jobs", submit),
    "chunked": (
        "POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + CLIENT
        + "\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
        + f"{len(submit):x}\r\n"
    ).encode() + submit + b"\r\n0\r\n\r\n",
    "keep-alive-close": request("GET", "/v1/plugins", extra="Connection: close\r\n"),
}
for name, data in http1.items():
    write("http1", name, off_three(data, lambda d: d.replace(b"Host: 127.0.0.1", b"Host: 127.0.0.1 ", 1)))

# Peers that reset the connection as soon as an answer starts (lengths 3n).
resetting = {
    "peer-resets-during-event-stream": [request("GET", "/v1/events?job_id=job-1&after=3")],
    "peer-resets-during-pipelined-answers": [
        request("GET", "/v1/nodes"), request("GET", "/v1/nodes/n1"), request("GET", "/v1/jobs/job-1"),
        request("GET", "/v1/plugins"),
    ],
}
for name, parts in resetting.items():
    data = b"".join(parts)
    while len(data) % 3:
        data = data[::-1].replace(b"Host: 127.0.0.1"[::-1], b"Host: 127.0.0.1 "[::-1], 1)[::-1]
    write("http1", name, data, folder="Regressions")


# --- http2: frames after the preface and an empty SETTINGS ------------------
def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    """HPACK literal header field without indexing, new name, no Huffman."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def headers(path, token=CLIENT, timeout=None):
    block = literal(":method", "POST") + literal(":scheme", "http") + literal(":path", path)
    block += literal(":authority", "127.0.0.1") + literal("content-type", "application/grpc")
    block += literal("te", "trailers") + literal("authorization", "Bearer " + token)
    if timeout:
        block += literal("grpc-timeout", timeout)
    return block


def grpc(message):
    return b"\x00" + struct.pack(">I", len(message)) + message


def field(number, payload):
    return bytes([number << 3 | 2, len(payload)]) + payload


SETTINGS_ACK = frame(0x4, 0x1, 0, b"")
END_STREAM, END_HEADERS = 0x1, 0x4
control = "/orchion.v1.ControlService/"


def unary(method, message, stream=1, **kw):
    return frame(0x1, END_HEADERS, stream, headers(control + method, **kw)) + frame(
        0x0, END_STREAM, stream, grpc(message))


http2 = {
    "list-nodes": SETTINGS_ACK + unary("ListNodes", b""),
    "get-node": SETTINGS_ACK + unary("GetNode", field(1, b"n1"), timeout="1S"),
    "submit-job": SETTINGS_ACK + unary("SubmitJob", field(1, field(3, b"echo") + field(3, b"hi"))),
    "follow-logs": SETTINGS_ACK + unary("FollowLogs", field(1, b"job-1")),
    "watch-events": SETTINGS_ACK + unary("WatchEvents", b"\x10\x03"),
    "unknown-method": SETTINGS_ACK + unary("Nope", b""),
    "no-token": SETTINGS_ACK + unary("ListNodes", b"", token="wrong"),
    "two-streams": SETTINGS_ACK + unary("GetNode", field(1, b"n1")) + unary("ListPlugins", b"", stream=3),
    "agent-connect": SETTINGS_ACK
    + frame(0x1, END_HEADERS, 1, headers("/orchion.v1.AgentService/Connect", token=JOIN))
    + frame(0x0, 0, 1, grpc(field(1, field(1, b"node-1") + field(2, b"host"))))
    + frame(0x0, END_STREAM, 1, grpc(b"")),
    "rst-window-ping-goaway": SETTINGS_ACK
    + frame(0x1, END_HEADERS, 1, headers(control + "ListNodes"))
    + frame(0x8, 0, 1, struct.pack(">I", 1000))
    + frame(0x3, 0, 1, struct.pack(">I", 8))
    + frame(0x6, 0, 0, b"12345678")
    + frame(0x7, 0, 0, struct.pack(">II", 1, 0)),
    "split-headers-continuation": SETTINGS_ACK
    + frame(0x1, 0, 1, headers(control + "GetNode")[:20])
    + frame(0x9, END_HEADERS, 1, headers(control + "GetNode")[20:])
    + frame(0x0, END_STREAM, 1, grpc(field(1, b"n1"))),
}
WINDOW_UPDATE_0 = frame(0x8, 0, 0, struct.pack(">I", 1))
for name, data in http2.items():
    write("http2", name, off_three(data, lambda d: d + WINDOW_UPDATE_0))
reset_unary = SETTINGS_ACK + unary("ListNodes", b"")
while len(reset_unary) % 3:
    reset_unary += WINDOW_UPDATE_0
write("http2", "peer-resets-during-unary-answer", reset_unary, folder="Regressions")

# --- grpc-framing: limit selector, chunk size, then a call's byte stream ----
framing = {
    "two-messages": bytes([4, 2]) + grpc(field(1, b"n1")) + grpc(b""),
    "partial": bytes([4, 0]) + grpc(b"hello")[:7],
    "over-limit": bytes([2, 7]) + grpc(b"0123456789"),
    "compressed": bytes([4, 3]) + b"\x01\x00\x00\x00\x01x",
    "timeout-text": bytes([4, 255]) + b"100m",
    "message-text": bytes([4, 255]) + "ünïcode 100% \x7f\n".encode(),
}
for name, data in framing.items():
    write("grpc-framing", name, data)

# --- rest-json: request type index, then the JSON body ---------------------
rest = {
    "list-nodes": (0, b"{}"),
    "get-node": (1, b'{"id":"n1"}'),
    "drain-node": (2, b'{"id":"n1"}'),
    "submit-job": (3, b'{"spec":{"name":"a","command":"echo hi","env":{"A":"1"},"resources":{"cpuMillis":1,'
                      b'"memoryBytes":"1024"},"gpu":{"count":1},"constraints":{"arch":"aarch64"},"priority":-3},'
                      b'"requestId":"r1"}'),
    "list-jobs": (4, b'{"state":"JOB_STATE_PENDING","nodeId":"7","pageSize":10,"pageToken":"12"}'),
    "get-job": (5, b'{"id":"job-1"}'),
    "cancel-job": (6, b'{"id":"job-1","reason":"\\u00e9\\ud83d\\ude00"}'),
    "follow-logs": (7, b'{"jobId":"job-1","follow":true,"offset":"18446744073709551615"}'),
    "watch-events": (8, b'{"job_id":"job-1","after":3}'),
    "list-plugins": (9, b"{}"),
}
for name, (index, body) in rest.items():
    write("rest-json", name, bytes([index]) + body)


# --- plugin-descriptor: lengths, descriptor, vtable, string pool -----------
def pointer(target_offset=None, vtable=False, null=False):
    """A pointer field as the harness reads it: NULL, the vtable, or a pool offset."""
    if null:
        return b"\x00" * 8
    if vtable:
        return b"\x01" + b"\x00" * 7
    return b"\x01" + struct.pack(">H", target_offset) + b"\x00" * 5


def plugin(kind, functions, name=b"fuzz-plugin", minor=0):
    pool = name + b"\x00" + b"1.0.0\x00" + b"A fuzzed plugin\x00"
    descriptor = struct.pack("<IHHiI", 48, 1, minor, kind, 0)
    descriptor += pointer(0) + pointer(len(name) + 1) + pointer(len(name) + 7) + pointer(vtable=True)
    vtable = struct.pack("<II", 8 + 8 * functions, 0) + b"\x11" * 8 * functions
    return bytes([len(descriptor), len(vtable)]) + descriptor + vtable + pool


write("plugin-descriptor", "scheduler", plugin(1, 3))
write("plugin-descriptor", "executor", plugin(2, 5))
write("plugin-descriptor", "bad-name", plugin(1, 3, name=b"Bad Name"))
write("plugin-descriptor", "minor-too-new", plugin(1, 3, minor=99))
# An executor vtable of 32 bytes (a scheduler's size) is a committed regression
# instead (Tests/Fuzz/Regressions/plugin-descriptor/executor-vtable-read-before-size-check):
# validation reads the whole 56-byte executor vtable before checking struct_size.


# --- job-spec: the whole input is a YAML job spec file ----------------------
# The documented examples, and documents that reach the validator's error
# paths (a typo, a bad unit, an alias, several documents).
EXAMPLES = os.path.join(HERE, "..", "..", "docs", "examples")
for name in sorted(os.listdir(EXAMPLES)):
    if name.endswith(".yaml"):
        with open(os.path.join(EXAMPLES, name), "rb") as f:
            write("job-spec", name[: -len(".yaml")], f.read())
write("job-spec", "typo-and-bad-units", """apiVersion: orchion/v1
kind: Job
name: typo
command: [sh, -c, "echo $ORCHION_ARRAY_INDEX"]
resources:
  cpu: 500x
  memory: 4Zi
  gpu: 1
timeout: 10 parsecs
""")
write("job-spec", "aliases-and-documents", """apiVersion: orchion/v1
kind: Job
name: &n first
command: &c [true]
count: 3
---
apiVersion: orchion/v1
kind: Job
name: *n
command: *c
labels: {arch: arm64, "a b": [1, 2]}
""")
