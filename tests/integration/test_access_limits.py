"""Per-connection limits, each with a clear error frame, while the server
keeps serving: message size (TOO_LARGE, closes), ops per push (TOO_LARGE),
pushes per second (RATE_LIMITED), concurrent connections of one device
(RATE_LIMITED, closes the extra one), and a connection that never says
hello is closed after --hello-timeout.
"""
import asyncio
import time
import uuid

import websockets

from access_lib import (ACK, ERROR, PING, PONG, RATE_LIMITED, TOO_LARGE, WELCOME, Device,
                        Server, now_ms, participant, run)


async def error_frame(device, code, closes, what):
    while True:
        frame = await device.recv()
        if frame["t"] != ACK:
            break
    assert frame["t"] == ERROR and frame["c"] == code, f"{what}: {frame}"
    assert frame.get("m"), f"{what}: no message"
    assert bool(frame.get("x")) == closes, f"{what}: x = {frame.get('x')}"
    if closes:
        await device.expect_closed()
    print(f"ok - {what}: {frame['m']}")
    return frame


async def serves(device, what):
    await device.send({"t": PING, "n": 7})
    while True:
        frame = await device.recv()
        if frame["t"] == PONG:
            assert frame["n"] == 7
            return
        assert frame["t"] in (ACK, ERROR), f"{what}: {frame}"


async def main(tmp):
    server = Server(tmp, "--max-ops-per-push", "5", "--max-pushes-per-second", "2",
                    "--max-device-connections", "2", "--hello-timeout", "1",
                    "--max-frame-bytes", "8192")
    tablet = Device(server)
    await tablet.enrol(server.code)

    # Ops per push.
    ops = [participant(str(uuid.uuid4()), f"Persoon {i}") for i in range(6)]
    await tablet.send({"t": 3, "ops": [{"s": i + 1, "h": now_ms() << 16, **op}
                                       for i, op in enumerate(ops)]})
    frame = await error_frame(tablet, TOO_LARGE, False, "6 ops where 5 are allowed")
    assert "5" in frame["m"]
    await serves(tablet, "after too many ops")
    assert server.sql("select count(*) from ops where device = ?", tablet.device) == [(0,)]

    # Pushes per second: a burst of twice the rate goes through, then no more.
    for _ in range(6):
        tablet.seq += 1
        await tablet.send({"t": 3, "ops": [{"s": tablet.seq, "h": now_ms() << 16,
                                            **participant(str(uuid.uuid4()), "Snel")}]})
    await error_frame(tablet, RATE_LIMITED, False, "6 pushes at once where 2 a second are allowed")
    await serves(tablet, "after too many pushes")

    # Concurrent connections of one device: two, not three.
    second = Device(server, tablet.device)
    second.token = tablet.token
    await second.connect()
    assert (await second.hello())["t"] == WELCOME
    third = Device(server, tablet.device)
    third.token = tablet.token
    await third.connect()
    await third.send({"t": 1, "v": 1, "dev": tablet.device, "tok": tablet.token})
    await error_frame(third, RATE_LIMITED, True, "a third connection of one device")
    await second.close()
    await serves(tablet, "the first connection")

    # Message size.
    big = Device(server, tablet.device)
    big.token = tablet.token
    await big.connect()
    await big.ws.send(b"\x00" * 9000)
    await error_frame(big, TOO_LARGE, True, "a 9000-byte message where 8192 are allowed")

    # No hello in time: closed.
    ws = await websockets.connect(server.url, subprotocols=["turf.v1"], ping_interval=None)
    start = time.monotonic()
    try:
        await asyncio.wait_for(ws.recv(), 5)
        raise AssertionError("a silent connection got a frame")
    except websockets.ConnectionClosed:
        pass
    waited = time.monotonic() - start
    assert waited < 4, f"closed after {waited:.1f} s"
    print(f"ok - a connection without hello closed after {waited:.1f} s")

    await serves(tablet, "at the end")
    await tablet.close()
    server.stop()


if __name__ == "__main__":
    run(main)
