"""The catalogue of hostile input (docs/robustness.md), over real websockets
to a real turfd, while honest clients keep syncing.

Each entry names one kind of bad input and the answer PROTOCOL.md gives
for it: an error frame with a given code, with or without x = true (and
then a clean close), or an ack that refuses the op. After every entry that
leaves the connection open, a ping must still be answered.

Throughout, in the background: an honest device pushes an op every 50 ms
and must get every ack within 5 s; an observer must receive every one of
those ops (live, or by the pull a gap makes it send); a real turf-tablet
syncs between the groups. The catalogue runs twice: with the plain
websocket client, and with permessage-deflate offered as most websocket
libraries do by default. Talks only to 127.0.0.1."""
import asyncio
import sqlite3
import time
import uuid

import msgpack
import websockets

from turfd_proc import Server, Tablet, run_test

BAD_FRAME, TOO_LARGE, UNKNOWN_TYPE, BAD_FIELD = 1, 2, 3, 4
UNSUPPORTED_VERSION, NOT_AUTHENTICATED, BAD_CREDENTIALS = 5, 6, 7
ALREADY_AUTHENTICATED, RATE_LIMITED = 8, 9
INVALID_OP, SEQ_GAP, NOT_AUTHOR = 20, 21, 22
HELLO, WELCOME, PUSH, ACK, PULL, CHANGES, LIVE, ERROR, PING, PONG = range(1, 11)
PARTICIPANT, CHECKIN, TALLY, MESSAGE, SESSION, LOCATION, SESSION_LOG = 4, 5, 6, 7, 3, 1, 8
HELLO_TIMEOUT_S = 2
MAX_QUEUED = 262144


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, strict_map_key=False, raw=False)


def now_ms():
    return int(time.time() * 1000)


class Peer:
    """One raw websocket connection that speaks turf.v1 by hand."""

    def __init__(self, server, compression):
        self.server = server
        self.compression = compression
        self.ws = None

    async def open(self, **kw):
        self.ws = await websockets.connect(self.server.url, subprotocols=["turf.v1"],
                                           max_size=None, ping_interval=None,
                                           compression=self.compression, **kw)
        return self

    async def send(self, data):
        await self.ws.send(data)

    async def recv(self, timeout=5.0):
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(data, bytes), "server frames must be binary"
        return unpack(data)

    async def enrol(self, device):
        await self.send(pack({"t": HELLO, "v": 1, "app": "catalogue/1", "dev": device,
                              "code": self.server.code, "now": now_ms()}))
        welcome = await self.recv()
        assert welcome["t"] == WELCOME and welcome.get("tok"), welcome
        self.device, self.token, self.head = device, welcome["tok"], welcome["head"]
        return welcome

    async def expect_closed(self, what, timeout=5.0):
        try:
            while True:
                frame = await self.recv(timeout)
                assert frame["t"] != ERROR, f"{what}: another error after the closing one: {frame}"
        except websockets.ConnectionClosed:
            return
        except asyncio.TimeoutError:
            raise AssertionError(f"{what}: the connection stayed open")

    async def still_serves(self, what):
        nonce = uuid.uuid4().int & 0xffffff
        await self.send(pack({"t": PING, "n": nonce}))
        while True:
            frame = await self.recv()
            if frame["t"] == PONG:
                assert frame["n"] == nonce, f"{what}: pong {frame} for ping {nonce}"
                return
            # Rate-limit notices may come in between; nothing else may.
            assert frame["t"] == ERROR and frame["c"] == RATE_LIMITED, f"{what}: {frame}"


def op(seq, y, k, f, k2=None, h=None, b=0):
    o = {"s": seq, "h": h or (now_ms() << 16), "y": y, "k": k, "f": f}
    if k2 is not None:
        o["k2"] = k2
    if b:
        o["b"] = b
    return o


class Honest:
    """A device that pushes one op every 50 ms and an observer that must
    receive every one of them, for as long as the catalogue runs."""

    def __init__(self, server, session, compression):
        self.server, self.session, self.compression = server, session, compression
        self.pushed, self.acked, self.seen = 0, 0, set()
        self.max_ack_s = 0.0
        self.stop = asyncio.Event()
        self.errors = []

    async def pusher(self):
        peer = await Peer(self.server, self.compression).open()
        self.device = "honest-" + uuid.uuid4().hex[:8]
        await peer.enrol(self.device)
        while not self.stop.is_set():
            seq = self.pushed + 1
            await peer.send(pack({"t": PUSH, "ops": [op(seq, TALLY, self.session, {1: seq})]}))
            self.pushed = seq
            started = time.monotonic()
            frame = await peer.recv(5.0)
            self.max_ack_s = max(self.max_ack_s, time.monotonic() - started)
            if frame["t"] != ACK or frame.get("a") != [[seq, seq]]:
                self.errors.append(f"honest push {seq} answered {frame}")
                return
            self.acked = seq
            await asyncio.sleep(0.05)
        await peer.ws.close()

    async def observer(self):
        peer = await Peer(self.server, self.compression).open()
        await peer.enrol("observer-" + uuid.uuid4().hex[:8])
        cursor = 0
        await peer.send(pack({"t": PULL, "cur": 0, "lim": 1000}))
        while not self.stop.is_set() or len(self.seen) < self.acked:
            try:
                frame = await peer.recv(1.0)
            except asyncio.TimeoutError:
                if self.stop.is_set():
                    break
                continue
            if frame["t"] not in (CHANGES, LIVE):
                self.errors.append(f"observer got {frame}")
                return
            if frame["from"] != cursor:
                await peer.send(pack({"t": PULL, "cur": cursor, "lim": 1000}))
                continue
            for o in frame["ops"]:
                if o["d"] == getattr(self, "device", None):
                    self.seen.add(o["s"])
            cursor = frame["cur"]
            if frame["t"] == CHANGES and frame["more"]:
                await peer.send(pack({"t": PULL, "cur": cursor, "lim": 1000}))
        await peer.ws.close()


async def expect_error(peer, code, closes, what):
    frame = await peer.recv()
    codes = code if isinstance(code, tuple) else (code,)
    assert frame.get("t") == ERROR, f"{what}: expected an error frame, got {frame}"
    assert frame.get("c") in codes, f"{what}: expected code {code}, got {frame}"
    assert frame.get("m"), f"{what}: error frame without a message"
    assert bool(frame.get("x")) == closes, f"{what}: x = {frame.get('x')}"
    if closes:
        await peer.expect_closed(what)
    else:
        await peer.still_serves(what)
    return frame


async def expect_reject(peer, seq, code, what, acked=None):
    frame = await peer.recv()
    assert frame["t"] == ACK, f"{what}: expected an ack, got {frame}"
    assert [(r["s"], r["c"]) for r in frame.get("r", [])] == [(seq, code)], f"{what}: {frame}"
    assert frame.get("a", []) == (acked or []), f"{what}: {frame}"
    await peer.still_serves(what)


# ---- the catalogue ------------------------------------------------------------------

PING_OK = pack({"t": PING, "n": 1})


def open_cases():
    """(what, bytes, code): refused on a connection that stays open."""
    push = pack({"t": PUSH, "ops": [op(1, TALLY, "s", {1: 1}), op(2, TALLY, "s", {1: 2})]})
    return [
        ("empty message", b"", BAD_FRAME),
        ("not MessagePack (0xc1)", b"\xc1\xc1", BAD_FRAME),
        ("truncated frame", PING_OK[:-1], BAD_FRAME),
        ("truncated push, cut inside an op", push[:-9], BAD_FRAME),
        ("string longer than the bytes that follow", b"\x82\xa1t\x09\xa1z\xd9\x40abc", BAD_FRAME),
        ("bytes after the frame", PING_OK + b"\x00", BAD_FRAME),
        ("top level is an array", pack([1, 2, 3]), BAD_FRAME),
        ("map claiming 4 billion entries", b"\xdf\xff\xff\xff\xff", BAD_FRAME),
        ("array claiming 4 billion items", b"\x82\xa1t\x09\xa1z\xdd\xff\xff\xff\xff", BAD_FRAME),
        ("string claiming 4 GiB", b"\x82\xa1t\x09\xa1z\xdb\xff\xff\xff\xff", BAD_FRAME),
        ("nesting 5 deep under an unknown key", b"\x82\xa1t\x09\xa1z\x91\x91\x91\x91\x00",
         TOO_LARGE),
        ("nesting 200 deep", b"\x81\xa1z" + b"\x91" * 200 + b"\x00", TOO_LARGE),
        ("type is a string", pack({"t": "9", "n": 1}), BAD_FIELD),
        ("type missing", pack({"n": 1}), BAD_FIELD),
        ("float where an integer belongs", pack({"t": PING, "n": 1.5}), BAD_FIELD),
        ("negative where unsigned belongs", pack({"t": PING, "n": -1}), BAD_FIELD),
        ("nil for a required key", pack({"t": PING, "n": None}), BAD_FIELD),
        ("bin where a string belongs", pack({"t": HELLO, "v": 1, "dev": b"abc"}), BAD_FIELD),
        ("ext type", b"\x82\xa1t\x09\xa1n\xd4\x01\x01", BAD_FIELD),
        ("integer key", b"\x82\xa1t\x09\x01\x01", BAD_FIELD),
        ("repeated key", b"\x83\xa1t\x09\xa1n\x01\xa1n\x02", BAD_FIELD),
        ("unknown frame type 99", pack({"t": 99}), UNKNOWN_TYPE),
        ("unknown frame type 0", pack({"t": 0}), UNKNOWN_TYPE),
        ("unknown frame type -1", pack({"t": -1}), UNKNOWN_TYPE),
        ("welcome from a client", pack({"t": WELCOME, "v": 1, "now": 0, "off": 0, "head": 0,
                                        "last": 0}), UNKNOWN_TYPE),
        ("ack from a client", pack({"t": ACK, "a": [[1, 1]]}), UNKNOWN_TYPE),
        ("changes from a client", pack({"t": CHANGES, "from": 0, "cur": 0, "more": False,
                                        "ops": []}), UNKNOWN_TYPE),
        ("live from a client", pack({"t": LIVE, "from": 0, "cur": 0, "more": False, "ops": []}),
         UNKNOWN_TYPE),
        ("device id empty", pack({"t": HELLO, "v": 1, "dev": ""}), BAD_FIELD),
        ("device id of 65 bytes", pack({"t": HELLO, "v": 1, "dev": "x" * 65}), TOO_LARGE),
        ("device id an integer", pack({"t": HELLO, "v": 1, "dev": 7}), BAD_FIELD),
        # A NUL would end the id where C reads it: "victim\0x" enrolled as
        # a second "victim". Ids are printable ASCII (PROTOCOL.md 5.1).
        ("device id with a NUL", pack({"t": HELLO, "v": 1, "dev": "victim\x00x"}), BAD_FIELD),
        ("device id with a space", pack({"t": HELLO, "v": 1, "dev": "a b"}), BAD_FIELD),
        ("device id not UTF-8", msgpack.packb({"t": HELLO, "v": 1, "dev": b"ab\xc0\x80"},
                                              use_bin_type=False), BAD_FIELD),
        ("device id 'server'", pack({"t": HELLO, "v": 1, "dev": "server"}), BAD_FIELD),
        ("device id 'server-2'", pack({"t": HELLO, "v": 1, "dev": "server-2"}), BAD_FIELD),
        ("device id 'turfctl-x'", pack({"t": HELLO, "v": 1, "dev": "turfctl-x"}), BAD_FIELD),
        ("device name with a right-to-left override",
         pack({"t": HELLO, "v": 1, "dev": "x", "name": "Jan \u202egnp.exe"}), BAD_FIELD),
        ("outbox count above 2^53", pack({"t": HELLO, "v": 1, "dev": "x", "out": 2**64 - 1}),
         BAD_FIELD),
    ]


def closing_cases(code):
    """(what, bytes, code): answered with x = true and a close."""
    return [
        ("push before hello", pack({"t": PUSH, "ops": [op(1, TALLY, "s", {1: 1})]}),
         NOT_AUTHENTICATED),
        ("pull before hello", pack({"t": PULL, "cur": 0}), NOT_AUTHENTICATED),
        ("hello with protocol version 2", pack({"t": HELLO, "v": 2, "dev": "x", "code": code}),
         UNSUPPORTED_VERSION),
        ("hello with a forged token", pack({"t": HELLO, "v": 1, "dev": "x", "tok": "0" * 64}),
         BAD_CREDENTIALS),
        ("hello without token or code", pack({"t": HELLO, "v": 1, "dev": "x"}), BAD_CREDENTIALS),
        ("hello with a wrong code", pack({"t": HELLO, "v": 1, "dev": "x", "code": "NOPE0000"}),
         BAD_CREDENTIALS),
        ("message of 1 MiB + 1", b"\x00" * ((1 << 20) + 1), TOO_LARGE),
    ]


def op_rejects(session, person):
    """(what, op without its seq, code): refused in the ack, seq consumed."""
    return [
        ("key2 on a type without one", lambda s: op(s, LOCATION, "loc-x", {1: "x"}, k2="p"),
         INVALID_OP),
        ("check-in without its participant", lambda s: op(s, CHECKIN, session, {1: "present"}),
         INVALID_OP),
        ("unknown record type", lambda s: op(s, 200, "r", {1: 1}), INVALID_OP),
        ("unknown field", lambda s: op(s, TALLY, session, {9: 1}), INVALID_OP),
        ("value out of range", lambda s: op(s, TALLY, session, {1: -1}), INVALID_OP),
        ("status not in its list", lambda s: op(s, CHECKIN, session, {1: "teleported"},
                                                k2=person), INVALID_OP),
        # bytes are packed as a msgpack str here (see catalogue()): a str that
        # is not UTF-8.
        ("invalid UTF-8", lambda s: op(s, PARTICIPANT, "p-utf8", {1: b"\xff\xfeok"}),
         INVALID_OP),
        ("impossible date", lambda s: op(s, SESSION, "s-bad", {1: "a", 2: "2024-02-30"}),
         INVALID_OP),
        ("op without fields", lambda s: op(s, TALLY, session, {}), INVALID_OP),
        ("record key with a NUL", lambda s: op(s, PARTICIPANT, "p-nul\x00x", {1: "x"}),
         INVALID_OP),
        ("participant id with a NUL", lambda s: op(s, CHECKIN, session, {1: "present"},
                                                   k2=person + "\x00x"), INVALID_OP),
        ("record key not UTF-8", lambda s: op(s, PARTICIPANT, b"p\xff\xfe", {1: "x"}),
         INVALID_OP),
        ("name with a right-to-left override",
         lambda s: op(s, PARTICIPANT, "p-rlo", {1: "Jan \u202egnp.exe"}), INVALID_OP),
        ("name with a line break", lambda s: op(s, PARTICIPANT, "p-nl", {1: "Jan\nPiet"}),
         INVALID_OP),
        ("activity reference that is no id",
         lambda s: op(s, MESSAGE, "m-ref", {1: "an activity", 2: "hallo"}), INVALID_OP),
        ("op naming another device", lambda s: {**op(s, TALLY, session, {1: 1}),
                                                "d": "someone-else"}, INVALID_OP),
    ]


def frame_refusals(session):
    """(what, bytes, code): refused whole by the decoder, nothing consumed."""
    return [
        ("op with seq 0", pack({"t": PUSH, "ops": [op(0, TALLY, session, {1: 1})]}), BAD_FIELD),
        ("op with an empty key", pack({"t": PUSH, "ops": [op(1, TALLY, "", {1: 1})]}),
         BAD_FIELD),
        ("op key of 65 bytes", pack({"t": PUSH, "ops": [op(1, TALLY, "k" * 65, {1: 1})]}),
         TOO_LARGE),
        ("op with 17 fields", pack({"t": PUSH, "ops": [op(1, PARTICIPANT, "p",
                                                          {i: "x" for i in range(1, 18)})]}),
         TOO_LARGE),
        ("field value of 4097 bytes", pack({"t": PUSH, "ops": [op(1, SESSION_LOG, session,
                                                                 {4: "x" * 4097})]}), TOO_LARGE),
        ("push of 1001 ops", pack({"t": PUSH, "ops": [op(i, TALLY, session, {1: i})
                                                      for i in range(1, 1002)]}), TOO_LARGE),
        ("push of no ops", pack({"t": PUSH, "ops": []}), BAD_FIELD),
        ("pull limit 0", pack({"t": PULL, "cur": 0, "lim": 0}), BAD_FIELD),
        ("pull limit 1001", pack({"t": PULL, "cur": 0, "lim": 1001}), TOO_LARGE),
    ]


async def catalogue(server, tablet, session, person, compression):
    label = "deflate" if compression else "plain"
    n = 0

    def ok(what, detail):
        nonlocal n
        n += 1
        print(f"ok - [{label}] {what}: {detail}")

    # Before any hello; a connection gets --hello-timeout seconds to say it,
    # so a fresh one is taken once this one has served for a second.
    peer = await Peer(server, compression).open()
    opened = time.monotonic()
    for what, raw, code in open_cases():
        if time.monotonic() - opened > 1.0:
            await peer.ws.close()
            peer = await Peer(server, compression).open()
            opened = time.monotonic()
        await peer.send(raw)
        await expect_error(peer, code, False, what)
        ok(what, f"error {code}, connection still serves")
    await peer.ws.close()
    peer = await Peer(server, compression).open()
    await peer.send("text frames are not turf frames")
    await expect_error(peer, BAD_FRAME, False, "text message")
    ok("text message", "error 1, connection still serves")
    await peer.ws.close()

    for what, raw, code in closing_cases(server.code):
        peer = await Peer(server, compression).open()
        await peer.send(raw)
        await expect_error(peer, code, True, what)
        ok(what, f"error {code} with x = true, then closed")

    # The same oversized message, sent in 64 KiB fragments.
    peer = await Peer(server, compression).open()
    chunk = b"\x00" * 65536
    await peer.ws.send(iter([chunk] * 16 + [b"\x00"]))
    await expect_error(peer, TOO_LARGE, True, "1 MiB + 1 in fragments")
    ok("message of 1 MiB + 1 in fragments", "error 2 with x = true, then closed")

    # Silence: no hello at all.
    peer = await Peer(server, compression).open()
    started = time.monotonic()
    await peer.expect_closed("no hello", timeout=HELLO_TIMEOUT_S + 5)
    ok("no hello within --hello-timeout", f"closed after {time.monotonic() - started:.1f} s")

    print(tablet.run("sync").strip())

    # Authenticated misuse.
    peer = await Peer(server, compression).open()
    welcome = await peer.enrol("hostile-" + uuid.uuid4().hex[:8])
    await peer.send(pack({"t": HELLO, "v": 1, "dev": peer.device, "tok": peer.token}))
    await expect_error(peer, ALREADY_AUTHENTICATED, False, "hello twice")
    ok("hello twice", "error 8, connection still serves")
    # Another client that knows this device's id (every tablet of the
    # organisation does) and holds an unused code cannot take it over.
    thief = await Peer(server, compression).open()
    await thief.send(pack({"t": HELLO, "v": 1, "dev": peer.device, "code": server.code}))
    await expect_error(thief, BAD_CREDENTIALS, True, "re-enrolment of a known device")
    again = await Peer(server, compression).open()
    await again.send(pack({"t": HELLO, "v": 1, "dev": peer.device, "tok": peer.token}))
    assert (await again.recv())["t"] == WELCOME, "the device's own token stopped working"
    await again.ws.close()
    ok("a code for a known device id", "BAD_CREDENTIALS, the device keeps its token")
    # A clock at -2^63: the offset saturates rather than overflowing.
    odd = await Peer(server, compression).open()
    await odd.send(pack({"t": HELLO, "v": 1, "dev": "clock-" + uuid.uuid4().hex[:8],
                         "code": server.code, "now": -2**63}))
    welcome = await odd.recv()
    assert welcome["t"] == WELCOME and welcome["off"] == 2**63 - 1, welcome
    await odd.ws.close()
    ok("a hello with now = -2^63", "welcome with off = 2^63-1")
    for what, raw, code in frame_refusals(session):
        await peer.send(raw)
        await expect_error(peer, code, False, what)
        ok(what, f"error {code}, connection still serves")

    seq = 1
    await peer.send(pack({"t": PUSH, "ops": [op(seq + 4, TALLY, session, {1: 1})]}))
    await expect_reject(peer, seq + 4, SEQ_GAP, "sequence gap")
    ok("sequence gap", "SEQ_GAP in the ack, seq not consumed")
    # Out of order: the expected seq after a gap waits for the gap too.
    await peer.send(pack({"t": PUSH, "ops": [op(seq + 1, TALLY, session, {1: 1}),
                                             op(seq, TALLY, session, {1: 1})]}))
    frame = await peer.recv()
    assert frame["t"] == ACK and not frame.get("a") and \
        [(r["s"], r["c"]) for r in frame.get("r", [])] == [(seq + 1, SEQ_GAP), (seq, SEQ_GAP)], \
        f"out-of-order push: {frame}"
    await peer.still_serves("out-of-order push")
    ok("push of seqs 2 then 1", "both SEQ_GAP, nothing consumed")
    for what, make, code in op_rejects(session, person):
        await peer.send(msgpack.packb({"t": PUSH, "ops": [make(seq)]}, use_bin_type=False))
        await expect_reject(peer, seq, code, what)
        ok(what, f"code {code} in the ack, seq {seq} consumed")
        seq += 1
    # The same push again: refused again, the same way, nothing new stored.
    await peer.send(pack({"t": PUSH, "ops": [op_rejects(session, person)[0][1](1)]}))
    await expect_reject(peer, 1, INVALID_OP, "resent refused op")
    ok("a refused op sent again", "refused again with the same code")

    good = op(seq, TALLY, session, {1: 3})
    await peer.send(pack({"t": PUSH, "ops": [good]}))
    frame = await peer.recv()
    assert frame["t"] == ACK and frame.get("a") == [[seq, seq]], frame
    # Counted for this device only: the honest tablet keeps pushing meanwhile.
    count = "select count(*) from ops where device = ?"
    before = sqlite3.connect(server.db).execute(count, (peer.device,)).fetchone()[0]
    for _ in range(3):
        await peer.send(pack({"t": PUSH, "ops": [good]}))
        frame = await peer.recv()
        assert frame["t"] == ACK and frame.get("a") == [[seq, seq]], frame
    after = sqlite3.connect(server.db).execute(count, (peer.device,)).fetchone()[0]
    assert before == after, f"a replayed push stored {after - before} op(s) again"
    ok("the same push replayed 3 times", "acked each time, stored once")
    seq += 1

    # A message is its author's: another device may not change it.
    author = await Peer(server, compression).open()
    await author.enrol("author-" + uuid.uuid4().hex[:8])
    mid = "msg-" + uuid.uuid4().hex[:12]
    activity = sqlite3.connect(server.db).execute("select id from activities limit 1").fetchone()[0]
    await author.send(pack({"t": PUSH, "ops": [op(1, MESSAGE, mid, {1: activity, 2: "hallo"})]}))
    frame = await author.recv()
    assert frame["t"] == ACK and frame.get("a") == [[1, 1]], frame
    await peer.send(pack({"t": PUSH, "ops": [op(seq, MESSAGE, mid, {2: "taken over"})]}))
    await expect_reject(peer, seq, NOT_AUTHOR, "edit of someone else's message")
    ok("edit of another device's message", f"NOT_AUTHOR in the ack")
    seq += 1
    await author.ws.close()

    # Pushes without waiting for acks: over the per-second budget the
    # answer is RATE_LIMITED and the connection stays.
    for i in range(400):
        await peer.send(pack({"t": PUSH, "ops": [op(seq, TALLY, session, {1: 4})]}))
    limited = acks = 0
    try:
        while True:
            frame = await peer.recv(2.0)
            if frame["t"] == ERROR:
                assert frame["c"] == RATE_LIMITED and not frame.get("x"), frame
                limited += 1
            else:
                assert frame["t"] == ACK, frame
                acks += 1
    except asyncio.TimeoutError:
        pass
    assert limited >= 1, "400 pushes at once were never rate limited"
    await peer.still_serves("push flood")
    ok("400 pushes without waiting for acks", f"{acks} acked, {limited} RATE_LIMITED, still open")
    await peer.ws.close()

    # A flood of frames from one client.
    flood = await Peer(server, compression).open()
    await flood.enrol("flood-" + uuid.uuid4().hex[:8])
    for i in range(3000):
        await flood.send(pack({"t": PING, "n": i}))
    limited = pongs = 0
    try:
        while True:
            frame = await flood.recv(2.0)
            if frame["t"] == ERROR:
                assert frame["c"] == RATE_LIMITED and not frame.get("x"), frame
                limited += 1
            else:
                assert frame["t"] == PONG, frame
                pongs += 1
    except asyncio.TimeoutError:
        pass
    assert limited >= 1, "a flood of 3000 pings was never rate limited"
    assert pongs < 3000, "every ping of the flood was answered"
    await flood.still_serves("ping flood")
    ok("flood of 3000 pings", f"{pongs} answered, {limited} RATE_LIMITED notices, still open")
    await flood.ws.close()

    # A client that asks and never reads: dropped once its unsent answers
    # pass --max-queued-bytes; nobody else waits for it.
    slow = await Peer(server, compression).open(max_queue=1, read_limit=4096)
    await slow.enrol("slow-" + uuid.uuid4().hex[:8])
    dropped = False
    for i in range(2000):
        try:
            await asyncio.wait_for(slow.send(pack({"t": PULL, "cur": 0, "lim": 1000})), 2)
        except (websockets.ConnectionClosed, asyncio.TimeoutError, ConnectionError):
            dropped = True
            break
        await asyncio.sleep(0.012)
    if not dropped:
        try:
            while True:
                await slow.recv(5.0)
        except websockets.ConnectionClosed:
            dropped = True
        except asyncio.TimeoutError:
            pass
    assert dropped, "a client that never reads was never dropped"
    ok("a client that never reads", f"dropped past {MAX_QUEUED} queued bytes")

    print(tablet.run("sync").strip())
    return n


async def main(tmp):
    server = Server(tmp, "--max-frames-per-second", "100",
                    "--hello-timeout", str(HELLO_TIMEOUT_S), "--max-queued-bytes", str(MAX_QUEUED))
    tablet = Tablet(tmp, "good", server)
    session = tablet.run("sessions").split("\n")[0].split("\t")[0]
    person = tablet.run("people").split("\n")[0].split("\t")[0]
    total = 0
    for compression in (None, "deflate"):
        honest = Honest(server, session, compression)
        tasks = [asyncio.create_task(honest.pusher()), asyncio.create_task(honest.observer())]
        await asyncio.sleep(0.3)
        try:
            total += await catalogue(server, tablet, session, person, compression)
        finally:
            honest.stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert not honest.errors, honest.errors
        assert honest.acked >= 20, f"only {honest.acked} honest pushes were acked"
        missing = set(range(1, honest.acked + 1)) - honest.seen
        assert not missing, f"the observer never received honest ops {sorted(missing)[:10]}"
        print(f"ok - honest device: {honest.acked} pushes acked (slowest ack "
              f"{honest.max_ack_s * 1000:.0f} ms), the observer received every one")
        tablet.run("checkin", session, person)
        out = tablet.run("sync")
        assert "acked 1" in out, out

    assert server.alive(), "turfd died"
    rc = server.stop()
    assert rc == 0, f"turfd exited {rc} on SIGTERM"
    print(f"ok - {total} catalogue entries answered as documented; turfd served throughout "
          f"and stopped cleanly")


if __name__ == "__main__":
    run_test(main, "turf-catalogue.", 280)
