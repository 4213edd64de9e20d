"""On SIGTERM turfd tells every tablet SHUTTING_DOWN (x = true) and closes
with a close frame (code 1001, going away), as PROTOCOL.md section 6 says.
A push in flight when the signal comes is acked before that error: what
was committed is never left unacknowledged. turfd exits 0, and the pushed
op is in the database. Talks only to 127.0.0.1."""
import asyncio
import os
import signal
import sys

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from access_lib import (ACK, ERROR, LIVE, CHANGES, PUSH, Device, Server, now_ms,  # noqa: E402
                        run, TALLY)

SHUTTING_DOWN = 11


async def frames_until_closed(device):
    """Every frame until turfd closes; returns them and the close code."""
    got = []
    try:
        while True:
            got.append(await device.recv(10.0))
    except websockets.ConnectionClosed as e:
        return got, (e.rcvd.code if e.rcvd is not None else None)


async def main(tmp):
    server = Server(tmp)
    session = server.sql("select id from sessions limit 1")[0][0]
    idle, busy = Device(server), Device(server)
    await idle.enrol(server.code)
    await busy.enrol(server.code)

    # The push goes out, and the signal follows at once.
    await busy.send({"t": PUSH, "ops": [{"s": 1, "h": now_ms() << 16, "y": TALLY, "k": session,
                                        "f": {1: 1}}]})
    server.proc.send_signal(signal.SIGTERM)

    got, code = await frames_until_closed(busy)
    kinds = [f["t"] for f in got if f["t"] not in (LIVE, CHANGES)]
    assert kinds == [ACK, ERROR], got
    assert got[-1]["c"] == SHUTTING_DOWN and got[-1].get("x") is True, got[-1]
    assert [f for f in got if f["t"] == ACK][0].get("a") == [[1, 1]], got
    assert code == 1001, code
    print("ok - the push in flight was acked, then SHUTTING_DOWN with x = true, close 1001")

    got, code = await frames_until_closed(idle)
    errors = [f for f in got if f["t"] == ERROR]
    assert len(errors) == 1 and errors[0]["c"] == SHUTTING_DOWN and errors[0].get("x"), got
    assert code == 1001, code
    print("ok - an idle tablet was told SHUTTING_DOWN and closed with 1001")

    assert server.proc.wait(timeout=15) == 0
    assert server.sql("select count(*) from ops where device = ?", busy.device) == [(1,)]
    print("ok - turfd exited 0 and the acked op is stored")


run(main)
