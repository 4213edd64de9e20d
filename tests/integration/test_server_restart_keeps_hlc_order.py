"""After a restart, turfd still orders a bounded op after everything it
stored before.

A device whose clock runs 40 s ahead (inside the 60 s bound, so its HLC is
kept) sets a check-in's status. turfd restarts. Then a device whose clock
runs a year ahead (so turfd replaces its HLC with one of its own) corrects
that status, having pulled the first write (its base covers it). The
correction must win: turfd's replacement HLC has to be greater than every
HLC it holds, not just greater than what this process happened to see.
Found by tests/convergence (turf-chaos converge --seed 3 --steps 320).
Talks only to 127.0.0.1."""
import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time

import msgpack
import websockets

from turfd_proc import run_test, start_turfd

HELLO, WELCOME, PUSH, ACK, PULL, CHANGES = 1, 2, 3, 4, 5, 6
CHECKIN = 5
YEAR_MS = 365 * 24 * 3600 * 1000


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, strict_map_key=False, raw=False)




class Server:
    def __init__(self, tmp):
        self.tmp = tmp
        self.db = os.path.join(tmp, "server.db")
        self.logf = open(os.path.join(tmp, "turfd.log"), "a")
        self.port = 0
        self.code = None
        self.start(demo=True)

    def start(self, demo=False):
        flags = ["--demo", "--demo-uses", "10"] if demo else []
        self.proc, self.url, code = start_turfd(self.tmp, self.logf, *flags, port=self.port)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.code = self.code or code

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=15) == 0, "turfd did not stop cleanly"


async def recv(ws):
    return unpack(await asyncio.wait_for(ws.recv(), 10))


async def device(server, name, skew_ms, token=None):
    ws = await websockets.connect(server.url, subprotocols=["turf.v1"], ping_interval=None)
    hello = {"t": HELLO, "v": 1, "dev": name, "now": int(time.time() * 1000) + skew_ms}
    hello.update({"tok": token} if token else {"code": server.code})
    await ws.send(pack(hello))
    welcome = await recv(ws)
    assert welcome["t"] == WELCOME, welcome
    # Clocks ahead are ahead of turfd's clock (welcome.now), which need not
    # be the test's own (scripts/test-clocks).
    return ws, welcome["now"], welcome["head"]


async def push_status(ws, seq, hlc, base, session, person, status):
    await ws.send(pack({"t": PUSH, "ops": [{"s": seq, "h": hlc, "y": CHECKIN, "k": session,
                                           "k2": person, "b": base, "f": {1: status}}]}))
    ack = await recv(ws)
    assert ack["t"] == ACK and ack.get("a") == [[seq, seq]], ack


async def main(tmp):
    server = Server(tmp)
    con = sqlite3.connect(server.db)
    session = con.execute("select id from sessions limit 1").fetchone()[0]
    person = con.execute("select id from participants limit 1").fetchone()[0]
    con.close()

    # 1. A clock 40 s ahead: its HLC is kept as it is.
    ahead = 40 * 1000
    a, server_now, _ = await device(server, "dev-ahead", ahead)
    hlc_a = (server_now + ahead) << 16
    await push_status(a, 1, hlc_a, 0, session, person, "absent")
    await a.close()

    server.stop()
    server.start()

    # 2. A clock a year ahead, after pulling the first write: its HLC is
    # replaced, and the replacement must still order after hlc_a.
    b, server_now, head = await device(server, "dev-year", YEAR_MS)
    hlc_b = (server_now + YEAR_MS) << 16
    await push_status(b, 1, hlc_b, head, session, person, "present")
    await b.close()
    server.stop()

    con = sqlite3.connect(server.db)
    stored_a = con.execute("select hlc from ops where device = 'dev-ahead'").fetchone()[0]
    stored_b, base_b = con.execute("select hlc, base from ops where device = 'dev-year'").fetchone()
    status = con.execute("select status from checkins where session = ? and participant = ?",
                         (session, person)).fetchone()[0]
    con.close()
    print(f"# first write hlc {stored_a}, correction hlc {stored_b} (base {base_b}), "
          f"status now {status!r}")
    assert stored_a == hlc_a, "an HLC 40 s ahead should be kept"
    assert stored_b < hlc_b, "an HLC a year ahead should be replaced"
    assert stored_b > stored_a, "the replaced HLC orders before a write its device had seen"
    assert status == "present", f"the correction lost to what it corrected: {status!r}"
    print("ok - after a restart a bounded op still orders after every stored op")


if __name__ == "__main__":
    run_test(main, "turf-hlc-restart.", 120)
