"""A hand-built HTTP/2 peer for Orchion's HTTP/2 robustness tests.

Usage: h2_peer.py PORT CLIENT_TOKEN JOIN_TOKEN SCENARIO [ARGS...]
Speaks HTTP/2 frames by hand (HPACK literals without Huffman) so that it can
misbehave in ways a stock client never does, and prints one JSON object
with what it observed. Every wait is bounded.
"""
import json
import socket
import sys
import time

from hpack import Decoder

port, client_token, join_token, scenario = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
args = sys.argv[5:]
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def integer(value, prefix_bits, first=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out, value = [first | limit], value - limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    return bytes(out + [value])


def literal(name, value):
    """A literal header field without indexing, no Huffman."""
    name, value = name.encode(), value.encode()
    return b"\x00" + integer(len(name), 7) + name + integer(len(value), 7) + value


def request_block(path, token):
    fields = [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1"),
              ("content-type", "application/grpc"), ("te", "trailers"), ("authorization", f"Bearer {token}")]
    return b"".join(literal(n, v) for n, v in fields)


def message(payload):
    return b"\x00" + len(payload).to_bytes(4, "big") + payload


class Peer:
    def __init__(self, receive_buffer=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect(("127.0.0.1", port))
        self.local_port = self.sock.getsockname()[1]
        self.buffer = b""
        self.closed = False
        self.connection_window = 65535
        self.stream_windows = {}
        self.granted = {}
        self.decoder = Decoder()
        self.sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(SETTINGS, 0, 0))

    def send(self, data):
        """Sends `data`; a connection the server already closed is noted, not raised."""
        if self.closed:
            return
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            self.closed = True

    def open(self, stream, path, token, end_stream=False):
        self.stream_windows[stream] = 65535
        self.send(frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, request_block(path, token)))

    def read_frame(self, timeout):
        """The next frame as (type, flags, stream, payload); None on timeout or close."""
        deadline = time.monotonic() + timeout
        while len(self.buffer) < 9 or len(self.buffer) < 9 + int.from_bytes(self.buffer[:3], "big"):
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                return None
            self.buffer += chunk
        length = int.from_bytes(self.buffer[:3], "big")
        kind, flags, stream = self.buffer[3], self.buffer[4], int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
        payload = self.buffer[9:9 + length]
        self.buffer = self.buffer[9 + length:]
        if kind == SETTINGS and not flags & ACK:
            self.send(frame(SETTINGS, ACK, 0))
            for at in range(0, len(payload) - 5, 6):
                if int.from_bytes(payload[at:at + 2], "big") == 4:  # INITIAL_WINDOW_SIZE
                    initial = int.from_bytes(payload[at + 2:at + 6], "big")
                    for key in self.stream_windows:
                        self.stream_windows[key] += initial - 65535
        if kind == WINDOW_UPDATE:
            increment = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
            if stream == 0:
                self.connection_window += increment
            else:
                self.stream_windows[stream] = self.stream_windows.get(stream, 0) + increment
                self.granted[stream] = self.granted.get(stream, 0) + increment
        headers = None
        if kind == HEADERS:
            headers = [(n.decode() if isinstance(n, bytes) else n, v.decode() if isinstance(v, bytes) else v)
                       for n, v in self.decoder.decode(payload)]
        return kind, flags, stream, payload, headers

    def frames_until(self, predicate, timeout):
        """Reads frames until predicate(frame) holds; returns the frames read and whether it held."""
        seen, deadline = [], time.monotonic() + timeout
        while True:
            got = self.read_frame(max(0.0, deadline - time.monotonic()))
            if got is None:
                return seen, False
            seen.append(got)
            if predicate(got):
                return seen, True

    def send_data(self, stream, data, end_stream=False):
        self.stream_windows[stream] -= len(data)
        self.connection_window -= len(data)
        self.send(frame(DATA, END_STREAM if end_stream else 0, stream, data))


def status_of(frames, stream):
    """grpc-status (and grpc-message) from the HEADERS frames of `stream`."""
    for kind, _, sid, _, headers in frames:
        if kind == HEADERS and sid == stream:
            fields = dict(headers)
            if "grpc-status" in fields:
                return fields["grpc-status"] + ("" if fields.get("grpc-status") == "0" else " " + fields.get("grpc-message", ""))
    return None


result = {}
if scenario == "unary_flood":
    # A unary call whose request never ends: one message, then more, as fast as the window allows.
    peer = Peer()
    peer.open(1, "/orchion.v1.ControlService/ListNodes", client_token)
    chunk = message(b"\x00" * ((16 << 10) - 5))
    sent, answer, frames = 0, None, []
    deadline = time.monotonic() + 20
    while answer is None and sent < (256 << 20) and time.monotonic() < deadline:
        while peer.stream_windows[1] >= len(chunk) and peer.connection_window >= len(chunk) and sent < (256 << 20):
            peer.send_data(1, chunk)
            sent += len(chunk)
        got = peer.read_frame(0.05 if peer.stream_windows[1] >= len(chunk) else 2)
        while got is not None:
            frames.append(got)
            if got[0] in (HEADERS, RST_STREAM) and got[2] == 1:
                answer = got
            got = peer.read_frame(0) if answer is None else None
    more, _ = peer.frames_until(lambda f: f[0] == RST_STREAM and f[2] == 1, 3)
    frames += more
    result = {"sent": sent, "status": status_of(frames, 1), "reset": any(f[0] == RST_STREAM and f[2] == 1 for f in frames),
              "port": peer.local_port}
elif scenario == "unary_two":
    # Two complete messages in one unary call, then END_STREAM; then a good call on the same connection.
    peer = Peer()
    peer.open(1, "/orchion.v1.ControlService/ListNodes", client_token)
    peer.send_data(1, message(b"") + message(b""), end_stream=True)
    frames, _ = peer.frames_until(lambda f: f[2] == 1 and f[0] == HEADERS and f[1] & END_STREAM, 5)
    peer.open(3, "/orchion.v1.ControlService/ListNodes", client_token)
    peer.send_data(3, message(b""), end_stream=True)
    later, _ = peer.frames_until(lambda f: f[2] == 3 and f[0] == HEADERS and f[1] & END_STREAM, 5)
    result = {"status": status_of(frames, 1), "after": status_of(later, 3)}
elif scenario == "agent_flood":
    # An agent stream: Register, then heartbeats as fast as the window allows; the
    # peer reads every frame but never grants the server window for its replies.
    quiet = float(args[0])
    peer = Peer()
    peer.open(1, "/orchion.v1.AgentService/Connect", join_token)
    peer.send_data(1, message(b"\x0a\x03\x0a\x01n"))
    beat = message(b"\x12\x02\x08\x01")
    sent, blocked_for, deadline = 0, 0.0, time.monotonic() + 30
    while time.monotonic() < deadline and sent < (64 << 20):
        burst = b""
        while peer.stream_windows[1] - len(burst) >= len(beat) and peer.connection_window - len(burst) >= len(beat) \
                and len(burst) + len(beat) <= 16384:
            burst += beat
        if burst:
            peer.send_data(1, burst)
            sent += len(burst)
            while peer.read_frame(0) is not None:
                pass
            continue
        started = time.monotonic()
        got = peer.read_frame(quiet)
        while got is not None and not (got[0] == WINDOW_UPDATE and got[2] == 1):
            got = peer.read_frame(max(0.0, quiet - (time.monotonic() - started)))
        if got is None:
            blocked_for = time.monotonic() - started
            break
    result = {"sent": sent, "granted": peer.granted.get(1, 0), "blocked_for": blocked_for,
              "unacknowledged": sent - peer.granted.get(1, 0), "closed": peer.closed, "port": peer.local_port}
elif scenario == "never_read":
    # An agent stream: Register and heartbeats, each answered by the server; this peer
    # never reads a byte and keeps its socket open until the test says. With
    # "open-window BYTES" it grants the server a huge window and sends BYTES of
    # heartbeats (the server's window must allow them), so the replies pile up on the
    # socket rather than behind flow control.
    peer = Peer(receive_buffer=4096)
    budget = 65535
    if args and args[0] == "open-window":
        budget = int(args[1])
        peer.send(frame(SETTINGS, 0, 0, (4).to_bytes(2, "big") + (0x7FFFFFFF).to_bytes(4, "big")))
        peer.send(frame(WINDOW_UPDATE, 0, 0, (0x7FFFFFFF - 65535).to_bytes(4, "big")))
    # Take the server's SETTINGS (and acknowledge them, so its window applies), then read no more.
    peer.frames_until(lambda f: f[0] == SETTINGS and not f[1] & ACK, 5)
    peer.sock.settimeout(None)  # sends block while the server is not reading, until it drops us
    print(json.dumps({"port": peer.local_port}), flush=True)
    peer.open(1, "/orchion.v1.AgentService/Connect", join_token)
    peer.stream_windows[1] = peer.connection_window = budget
    beat = message(b"\x12\x02\x08\x01")
    try:
        peer.send_data(1, message(b"\x0a\x03\x0a\x01n"))
        while peer.stream_windows[1] >= 16384:
            peer.send_data(1, beat * (16384 // len(beat)))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server dropped the connection
    sys.stdin.readline()  # the test says when to look
    peer.sock.settimeout(10)
    closed = False
    try:
        while peer.sock.recv(1 << 20):
            pass
        closed = True
    except (ConnectionResetError, BrokenPipeError):
        closed = True
    except socket.timeout:
        pass
    result = {"closed": closed}
elif scenario == "silent":
    # Opens a stream (so the idle timeout does not apply), then reads but never answers a PING.
    peer = Peer()
    peer.open(1, "/orchion.v1.ControlService/ListNodes", client_token)
    started = time.monotonic()
    frames, _ = peer.frames_until(lambda f: False, float(args[0]))
    result = {"ping": any(f[0] == PING and not f[1] & ACK for f in frames), "closed": peer.closed,
              "after": time.monotonic() - started}
elif scenario == "answers_pings":
    # Like silent, but answers every PING: it must still be connected after `seconds`.
    peer = Peer()
    peer.open(1, "/orchion.v1.ControlService/ListNodes", client_token)
    pings, deadline = 0, time.monotonic() + float(args[0])
    while time.monotonic() < deadline and not peer.closed:
        got = peer.read_frame(max(0.0, deadline - time.monotonic()))
        if got and got[0] == PING and not got[1] & ACK:
            pings += 1
            peer.send(frame(PING, ACK, 0, got[3]))
    result = {"pings": pings, "closed": peer.closed}
elif scenario == "half_open":
    # A unary call whose request never completes: headers only, or a partial message.
    peer = Peer()
    peer.open(1, "/orchion.v1.ControlService/ListNodes", client_token)
    peer.open(3, "/orchion.v1.AgentService/Connect", join_token)
    peer.send_data(3, message(b"\x0a\x03\x0a\x01n")[:4])  # half a length prefix
    started = time.monotonic()
    frames, _ = peer.frames_until(lambda f: f[0] == GOAWAY, float(args[0]))
    resets = sorted({f[2] for f in frames if f[0] == RST_STREAM})
    result = {"resets": resets, "status1": status_of(frames, 1), "status3": status_of(frames, 3),
              "goaway": any(f[0] == GOAWAY for f in frames), "after": time.monotonic() - started}
elif scenario == "header_bomb":
    # HPACK bomb: one 4000-byte value put in the dynamic table, then referenced thousands of times.
    peer = Peer()
    value = "x" * 4000
    insert = b"\x40" + integer(len(b"x-bomb"), 7) + b"x-bomb" + integer(len(value), 7) + value.encode()
    # 12000 references in the HEADERS frame, 16000 in each of 7 CONTINUATIONs: about 500 MB of header text.
    block = request_block("/orchion.v1.ControlService/ListNodes", client_token) + insert + b"\xbe" * 12000
    started = time.monotonic()
    peer.stream_windows[1] = 65535
    peer.send(frame(HEADERS, 0, 1, block) + b"".join(frame(CONTINUATION, 0, 1, b"\xbe" * 16000) for _ in range(6))
              + frame(CONTINUATION, END_HEADERS, 1, b"\xbe" * 16000))
    frames, _ = peer.frames_until(lambda f: f[2] == 1 and (f[0] == RST_STREAM or (f[0] == HEADERS and f[1] & END_STREAM)), 5)
    answered = time.monotonic() - started
    peer.open(3, "/orchion.v1.ControlService/ListNodes", client_token)
    peer.send_data(3, message(b""), end_stream=True)
    later, _ = peer.frames_until(lambda f: f[2] == 3 and f[0] == HEADERS and f[1] & END_STREAM, 5)
    result = {"reset": any(f[0] == RST_STREAM and f[2] == 1 for f in frames), "status1": status_of(frames, 1),
              "answered_in": answered, "after": status_of(later, 3), "goaway": any(f[0] == GOAWAY for f in frames)}
elif scenario == "continuation_flood":
    # HEADERS without END_HEADERS, then CONTINUATION frames without end.
    peer = Peer()
    block = request_block("/orchion.v1.ControlService/ListNodes", client_token)
    peer.send(frame(HEADERS, 0, 1, block))
    for _ in range(int(args[0])):
        peer.send(frame(CONTINUATION, 0, 1, literal("x-more", "y" * 100)))
    frames, _ = peer.frames_until(lambda f: f[0] == GOAWAY, 5)
    goaway = any(f[0] == GOAWAY for f in frames)
    if goaway:  # then the server closes
        peer.frames_until(lambda f: False, 5)
    # The GOAWAY may be lost to a reset when the server closes with the flood unread.
    result = {"goaway": goaway, "closed": peer.closed}
elif scenario == "refusals":
    # Many unary calls on one connection, each refused for a second 16 KiB message:
    # the refused bytes must go back to the connection window, or later calls stall.
    peer = Peer()
    statuses = []
    payload = message(b"\x00" * ((16 << 10) - 5))
    for index in range(int(args[0])):
        stream = 2 * index + 1
        peer.open(stream, "/orchion.v1.ControlService/ListNodes", client_token)
        peer.send_data(stream, payload)
        peer.send_data(stream, payload, end_stream=True)
        frames, _ = peer.frames_until(lambda f: f[2] == stream and f[0] == HEADERS and f[1] & END_STREAM, 5)
        statuses.append((status_of(frames, stream) or "none").split(" ")[0])
        if peer.connection_window < 2 * len(payload):
            frames, _ = peer.frames_until(lambda f: peer.connection_window >= 2 * len(payload), 5)
            if peer.connection_window < 2 * len(payload):
                break
    result = {"statuses": sorted(set(statuses)), "calls": len(statuses), "window": peer.connection_window}
elif scenario == "close_mid_write":
    # Again and again: an agent stream whose peer grants a huge window, reads the
    # first reply, then sends heartbeats until the server stops reading (its replies
    # pile up unread behind a 4 KiB receive buffer), then closes: "reset" aborts (RST
    # at once), "close" closes normally (the kernel answers the server's next writes
    # with RST, then EPIPE). Finally a normal call on a fresh connection.
    import struct
    beats = message(b"\x12\x02\x08\x01") * 1800
    for _ in range(int(args[0])):
        peer = Peer(receive_buffer=4096)
        peer.send(frame(SETTINGS, 0, 0, (4).to_bytes(2, "big") + (0x7FFFFFFF).to_bytes(4, "big")))
        peer.send(frame(WINDOW_UPDATE, 0, 0, (0x7FFFFFFF - 65535).to_bytes(4, "big")))
        peer.open(1, "/orchion.v1.AgentService/Connect", join_token)
        peer.send_data(1, message(b"\x0a\x03\x0a\x01n"))
        peer.frames_until(lambda f: f[0] == DATA and f[2] == 1, 5)  # the server is writing replies
        peer.sock.settimeout(0.5)  # a send that waits this long means the server stopped reading
        try:
            for _ in range(400):  # at most 6 MiB of heartbeats
                peer.sock.sendall(frame(DATA, 0, 1, beats))
        except (TimeoutError, socket.timeout, BrokenPipeError, ConnectionResetError):
            pass
        if args[1] == "reset":
            peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.sock.close()
    peer = Peer()
    peer.open(1, "/orchion.v1.ControlService/ListNodes", client_token)
    peer.send_data(1, message(b""), end_stream=True)
    frames, _ = peer.frames_until(lambda f: f[2] == 1 and f[0] == HEADERS and f[1] & END_STREAM, 5)
    result = {"after": status_of(frames, 1)}
elif scenario == "partial_unary":
    # N unary calls on one connection, each declaring a SIZE-byte message and sending
    # all of it but the last byte, as fast as the windows allow, for HOLD seconds.
    count, size, hold = int(args[0]), int(args[1]), float(args[2])
    peer = Peer()
    left = {}
    for index in range(count):
        stream = 2 * index + 1
        peer.open(stream, "/orchion.v1.ControlService/ListNodes", client_token)
        left[stream] = b"\x00" + size.to_bytes(4, "big") + b"\x00" * (size - 1)
    sent, deadline = 0, time.monotonic() + hold
    while time.monotonic() < deadline and not peer.closed:
        progressed = False
        for stream, rest in left.items():
            n = min(16384, len(rest), peer.stream_windows[stream], peer.connection_window)
            if n > 0:
                peer.send_data(stream, rest[:n])
                left[stream] = rest[n:]
                sent += n
                progressed = True
        while peer.read_frame(0 if progressed else 0.05) is not None:
            pass
    result = {"sent": sent, "port": peer.local_port, "closed": peer.closed}
elif scenario == "large_unary":
    # COUNT unary calls on one connection, each with one SIZE-byte request (an unknown
    # protobuf field), sent interleaved as the windows allow; all must be answered.
    size, count = int(args[0]), int(args[1]) if len(args) > 1 else 1
    peer = Peer()
    length, varint = size, b""
    while length >= 128:
        varint += bytes([length % 128 + 128])
        length //= 128
    request = message(b"\x7a" + varint + bytes([length]) + b"\x01" * size)
    left = {}
    for index in range(count):
        stream = 2 * index + 1
        peer.open(stream, "/orchion.v1.ControlService/ListNodes", client_token)
        left[stream] = request
    frames, started = [], time.monotonic()
    deadline = started + 20
    while any(left.values()) and time.monotonic() < deadline and not peer.closed:
        progressed = False
        for stream, rest in left.items():
            n = min(16384, len(rest), peer.stream_windows[stream], peer.connection_window)
            if n > 0:
                peer.send_data(stream, rest[:n], end_stream=n == len(rest))
                left[stream] = rest[n:]
                progressed = True
        got = peer.read_frame(0 if progressed else 0.5)
        while got is not None:
            frames.append(got)
            got = peer.read_frame(0)
    ended = lambda: all(status_of(frames, stream) is not None for stream in left)
    while not ended() and time.monotonic() < deadline:
        got = peer.read_frame(max(0.0, deadline - time.monotonic()))
        if got is None:
            break
        frames.append(got)
    statuses = sorted({(status_of(frames, stream) or "none") for stream in left})
    result = {"statuses": statuses, "unsent": sum(len(rest) for rest in left.values()),
              "seconds": time.monotonic() - started, "port": peer.local_port}
elif scenario == "timeout_reset":
    # A unary call with a partial message, then silence: how long after the trailers does RST_STREAM come?
    peer = Peer()
    peer.open(1, "/orchion.v1.ControlService/ListNodes", client_token)
    peer.send_data(1, message(b"\x00" * 100)[:50])
    frames, ended = peer.frames_until(lambda f: f[2] == 1 and f[0] == HEADERS and f[1] & END_STREAM, 10)
    ended_at = time.monotonic()
    more, reset = peer.frames_until(lambda f: f[2] == 1 and f[0] == RST_STREAM, 5)
    result = {"status": status_of(frames, 1), "reset": reset, "gap": time.monotonic() - ended_at}
elif scenario == "ping_hold":
    # No stream at all: a PING every INTERVAL seconds (answering the server's), for at most SECONDS.
    seconds, interval = float(args[0]), float(args[1])
    peer = Peer()
    started = time.monotonic()
    goaway, next_ping = False, started
    while time.monotonic() - started < seconds and not peer.closed:
        if time.monotonic() >= next_ping:
            peer.send(frame(PING, 0, 0, b"12345678"))
            next_ping += interval
        got = peer.read_frame(max(0.0, min(next_ping - time.monotonic(), 0.05)))
        if got and got[0] == PING and not got[1] & ACK:
            peer.send(frame(PING, ACK, 0, got[3]))
        if got and got[0] == GOAWAY:
            goaway = True
    result = {"goaway": goaway, "closed": peer.closed, "after": time.monotonic() - started}
elif scenario == "empty_frames":
    # COUNT frames that carry nothing, in batches: "data" (empty DATA on an open unary
    # stream), "unknown" (an unknown frame type) or "priority" (PRIORITY frames).
    kind, count = args[0], int(args[1])
    peer = Peer()
    peer.open(1, "/orchion.v1.ControlService/ListNodes", client_token)
    one = {"data": frame(DATA, 0, 1), "unknown": frame(0x20, 0, 0),
           "priority": frame(2, 0, 1, (0).to_bytes(4, "big") + b"\x0f")}[kind]
    started = time.monotonic()
    for _ in range(count // 1000):
        peer.send(one * 1000)
    frames, goaway = peer.frames_until(lambda f: f[0] == GOAWAY, 5)
    code = next((int.from_bytes(f[3][4:8], "big") for f in frames if f[0] == GOAWAY), None)
    if goaway:
        peer.frames_until(lambda f: False, 5)
    result = {"goaway_code": code, "closed": peer.closed, "after": time.monotonic() - started}
else:
    raise SystemExit(f"unknown scenario {scenario}")
print(json.dumps(result))
