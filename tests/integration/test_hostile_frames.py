"""Hostile and malformed input over real websockets to a real turfd.

Every bad frame must get the documented error frame (or a clean close when
the protocol says so), and a real turf-tablet keeps syncing throughout while
a live observer keeps receiving its changes. Talks only to 127.0.0.1.
"""
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
INVALID_OP, SEQ_GAP = 20, 21
HELLO, WELCOME, PUSH, ACK, PULL, CHANGES, LIVE, ERROR, PING, PONG = range(1, 11)
CHECKIN = 5


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, strict_map_key=False, raw=False)


async def recv(ws, timeout=5.0):
    data = await asyncio.wait_for(ws.recv(), timeout)
    assert isinstance(data, bytes), "server frames must be binary"
    return unpack(data)


async def expect_error(ws, code, closes=False, what=""):
    frame = await recv(ws)
    assert frame.get("t") == ERROR, f"{what}: expected error frame, got {frame}"
    assert frame.get("c") == code, f"{what}: expected code {code}, got {frame}"
    assert frame.get("m"), f"{what}: error frame without message"
    assert bool(frame.get("x")) == closes, f"{what}: close flag {frame.get('x')}"
    if closes:
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError(f"{what}: connection still open after x=true")
        except websockets.ConnectionClosed:
            pass
    print(f"ok - {what}: error {code}{' and close' if closes else ''}")


async def still_serves(ws, what):
    nonce = int(time.time() * 1000) & 0xffffff
    await ws.send(pack({"t": PING, "n": nonce}))
    frame = await recv(ws)
    assert frame == {"t": PONG, "n": nonce}, f"{what}: no pong after bad frame: {frame}"


async def connect(server):
    return await websockets.connect(server.url, subprotocols=["turf.v1"], max_size=None,
                                    ping_interval=None)


async def enrol(server, device):
    ws = await connect(server)
    await ws.send(pack({"t": HELLO, "v": 1, "app": "hostile-test/1", "dev": device,
                        "code": server.code, "cur": 0, "out": 0,
                        "now": int(time.time() * 1000)}))
    welcome = await recv(ws)
    assert welcome["t"] == WELCOME and welcome.get("tok"), welcome
    return ws, welcome


def checkin_op(seq, session, person, hlc=None):
    hlc = hlc or (int(time.time() * 1000) << 16)
    return {"s": seq, "h": hlc, "y": CHECKIN, "k": session, "k2": person,
            "f": {1: "present", 2: int(time.time() * 1000)}}


async def main(tmp):
    server = Server(tmp, "--max-frames-per-second", "50")
    good = Tablet(tmp, "good", server)
    session = good.run("sessions").split("\n")[0].split("\t")[0]
    people = [line.split("\t") for line in good.run("people").strip().split("\n")]

    # A live observer: pulls to the head, then must get the good tablet's ops live.
    observer, _ = await enrol(server, "observer-" + uuid.uuid4().hex[:8])
    await observer.send(pack({"t": PULL, "cur": 0, "lim": 1000}))
    while True:
        page = await recv(observer)
        assert page["t"] == CHANGES, page
        if not page["more"]:
            break
        await observer.send(pack({"t": PULL, "cur": page["cur"], "lim": 1000}))

    ws = await connect(server)
    # Before hello: a push is refused and the connection closed.
    await ws.send(pack({"t": PUSH, "ops": [checkin_op(1, session, people[0][0])]}))
    await expect_error(ws, NOT_AUTHENTICATED, closes=True, what="push before hello")

    ws = await connect(server)
    await ws.send(pack({"t": HELLO, "v": 99, "dev": "x"}))
    await expect_error(ws, UNSUPPORTED_VERSION, closes=True, what="unknown protocol version")

    ws = await connect(server)
    await ws.send(pack({"t": HELLO, "v": 1, "dev": "thief", "tok": "0" * 64}))
    await expect_error(ws, BAD_CREDENTIALS, closes=True, what="forged token")

    ws = await connect(server)
    cases = [
        (b"\xc1\xc1\xc1", BAD_FRAME, "bytes that are not msgpack"),
        (pack([1, 2, 3]), BAD_FRAME, "array instead of map"),
        (pack({"t": 99}), UNKNOWN_TYPE, "unknown frame type"),
        (pack({"v": 1}), BAD_FIELD, "frame without type"),
        (pack({"t": HELLO, "v": "1", "dev": "x"}), BAD_FIELD, "hello with string version"),
        (pack({"t": HELLO, "v": 1, "dev": "x" * 65}), TOO_LARGE, "device id over 64 bytes"),
        (pack({"t": PING, "n": 1}) + b"\x00", BAD_FRAME, "trailing bytes"),
        (b"\x81\xa1t\x09\xa1z" + b"\x91" * 200 + b"\x00", None, "deep nesting"),
        (b"\xdd\xff\xff\xff\xff", None, "array claiming 4 billion items"),
        (b"\x81\xa1t\xdb\xff\xff\xff\xff", None, "string claiming 4 GiB"),
        (pack({"t": PING, "n": 1.5}), BAD_FIELD, "float where int expected"),
        (pack({"t": PING, "n": -1}), BAD_FIELD, "negative where unsigned expected"),
    ]
    for raw, code, what in cases:
        await ws.send(raw)
        frame = await recv(ws)
        assert frame["t"] == ERROR, f"{what}: {frame}"
        if code is not None:
            assert frame["c"] == code, f"{what}: expected {code}, got {frame}"
        else:
            assert frame["c"] in (BAD_FRAME, TOO_LARGE, BAD_FIELD), f"{what}: {frame}"
        assert not frame.get("x"), f"{what}: should not close"
        await still_serves(ws, what)
        print(f"ok - {what}: error {frame['c']}, connection still serves")
    await ws.send("text frames are not turf frames")
    await expect_error(ws, BAD_FRAME, what="text frame")
    await still_serves(ws, "text frame")
    await ws.send(pack({"t": PULL, "cur": 0}))
    await expect_error(ws, NOT_AUTHENTICATED, closes=True, what="pull before hello")

    # Oversized message: refused with TOO_LARGE and a close.
    ws = await connect(server)
    await ws.send(b"\x00" * ((1 << 20) + 1))
    await expect_error(ws, TOO_LARGE, closes=True, what="message over 1 MiB")

    # The good tablet syncs between hostile connections.
    good.run("checkin", session, people[0][0])
    out = good.run("sync")
    assert "acked 1" in out, out

    # Authenticated misuse: gaps, invalid ops, hello twice.
    dev = "hostile-" + uuid.uuid4().hex[:8]
    ws, welcome = await enrol(server, dev)
    await ws.send(pack({"t": HELLO, "v": 1, "dev": dev, "tok": welcome["tok"]}))
    await expect_error(ws, ALREADY_AUTHENTICATED, what="hello twice")
    await ws.send(pack({"t": PUSH, "out": 0, "ops": [checkin_op(5, session, people[1][0])]}))
    ack = await recv(ws)
    assert ack["t"] == ACK and not ack.get("a"), ack
    assert ack["r"][0]["s"] == 5 and ack["r"][0]["c"] == SEQ_GAP, ack
    print("ok - sequence gap rejected with SEQ_GAP")
    bad = checkin_op(1, session, people[1][0])
    bad["f"] = {1: "teleported"}
    good_op = checkin_op(2, session, people[1][0])
    await ws.send(pack({"t": PUSH, "out": 0, "ops": [bad, good_op]}))
    ack = await recv(ws)
    assert ack["t"] == ACK, ack
    assert ack["r"][0]["s"] == 1 and ack["r"][0]["c"] == INVALID_OP, ack
    assert ack["a"] == [[2, 2]], ack
    print("ok - invalid op rejected, the op behind it accepted")
    await ws.send(pack({"t": PUSH, "out": 0, "ops": [bad, good_op]}))
    ack = await recv(ws)
    assert ack["r"][0]["c"] == INVALID_OP and ack["a"] == [[2, 2]], ack
    print("ok - resent push: rejection repeated, accepted op acked again")
    await ws.send(pack({"t": PUSH, "ops": [{"s": 3, "h": 1, "y": CHECKIN, "k": session}]}))
    await expect_error(ws, BAD_FIELD, what="op without fields")

    # A flood of frames from one client: rate limited, others unaffected.
    flood = await connect(server)
    for i in range(2000):
        await flood.send(pack({"t": PING, "n": i}))
    limited = 0
    try:
        while True:
            frame = await recv(flood, timeout=3)
            if frame["t"] == ERROR:
                assert frame["c"] == RATE_LIMITED, frame
                limited += 1
    except (asyncio.TimeoutError, websockets.ConnectionClosed):
        pass
    assert limited >= 1, "a flood of 2000 pings was never rate limited"
    print(f"ok - flood of 2000 pings: {limited} RATE_LIMITED error frames")

    good.run("checkin", session, people[2][0])
    out = good.run("sync")
    assert "acked 1" in out, out

    # The observer saw both of the good tablet's check-ins live.
    seen = []
    try:
        while len(seen) < 3:
            frame = await recv(observer, timeout=5)
            if frame["t"] == LIVE:
                seen += [(op["d"], op["k2"]) for op in frame["ops"]]
    except asyncio.TimeoutError:
        pass
    persons = {k2 for _, k2 in seen}
    assert people[0][0] in persons and people[2][0] in persons, seen
    print("ok - live observer received the good tablet's check-ins throughout")

    assert server.alive(), "turfd died"
    con = sqlite3.connect(server.db)
    n = con.execute("select count(*) from checkins where status='present'").fetchone()[0]
    assert n == 3, f"expected 3 present check-ins, found {n}"
    rejected = con.execute("select count(*) from rejected_ops").fetchone()[0]
    assert rejected == 1, f"expected the one invalid op kept in rejected_ops, found {rejected}"
    con.close()
    rc = server.stop()
    assert rc == 0, f"turfd exited {rc} on SIGTERM"
    print("ok - turfd served throughout and stopped cleanly")


if __name__ == "__main__":
    run_test(main, "turf-hostile.", 240)
