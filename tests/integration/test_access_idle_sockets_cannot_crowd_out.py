"""Sockets that never say hello cannot keep tablets out.

- An upgrade that does not ask for turf.v1 or the dashboard's subprotocol
  (none, "http", "turf-auth", an unknown one) is refused with HTTP 400 and
  a reason, so no websocket exists that no limit counts or times out.
- One address holds at most --max-pending-per-address connections that have
  not been welcomed (a quarter of --max-connections by default); the ones
  over it are closed at once (1008). A real tablet from another address
  still enrols and syncs while that address holds its share.
- What an address holds is closed after --hello-timeout.
- /healthz tells nobody how many connections there are.

The crowd connects from 127.0.0.2 (still loopback), the tablet from
127.0.0.1. Talks only to 127.0.0.0/8."""
import asyncio
import os
import subprocess
import sys
import time
import urllib.request

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from access_lib import TABLET, Server, run  # noqa: E402

MAX_CONNECTIONS, HELLO_TIMEOUT_S, CROWD = 50, 3, 60
PENDING = MAX_CONNECTIONS // 4


async def raw_upgrade(port, protocol):
    """Sends a websocket upgrade by hand; returns the status line and body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = ("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
    if protocol:
        head += f"Sec-WebSocket-Protocol: {protocol}\r\n"
    writer.write((head + "\r\n").encode())
    answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    return answer.decode(errors="replace")


async def crowd_member(url):
    """A turf.v1 socket from 127.0.0.2 that never says hello. Returns
    ("refused", code) or ("held", seconds until turfd closed it)."""
    ws = await websockets.connect(url, subprotocols=["turf.v1"], ping_interval=None,
                                  local_addr=("127.0.0.2", 0), open_timeout=10)
    opened = time.monotonic()
    try:
        await asyncio.wait_for(ws.recv(), HELLO_TIMEOUT_S + 10)
    except websockets.ConnectionClosed as e:
        held = time.monotonic() - opened
        if e.rcvd is not None and e.rcvd.code == 1008:
            return ("refused", held)
        return ("held", held)
    raise AssertionError("turfd sent something to a socket that never said hello")


def tablet(tmp, *args):
    out = subprocess.run([TABLET, "--db", os.path.join(tmp, "t.db"), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


async def main(tmp):
    server = Server(tmp, "--max-connections", str(MAX_CONNECTIONS),
                    "--hello-timeout", str(HELLO_TIMEOUT_S))
    port = int(server.url.rsplit(":", 1)[1])

    for protocol in (None, "http", "turf-auth"):
        answer = await raw_upgrade(port, protocol)
        assert answer.split("\r\n")[0].endswith("400 Bad Request"), (protocol, answer[:200])
        assert "subprotocol turf.v1" in answer, (protocol, answer)
        print(f"ok - an upgrade with subprotocol {protocol!r} is refused with 400")
    # One lws does not know at all it refuses itself, closing without an answer.
    answer = await raw_upgrade(port, "bogus")
    assert "101" not in answer.split("\r\n")[0], answer
    print("ok - an upgrade with an unknown subprotocol is refused")

    health = urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
    assert health == b'{"status":"ok"}\n', health
    print("ok - /healthz says ok and nothing of the load")

    crowd = [asyncio.create_task(crowd_member(server.url)) for _ in range(CROWD)]
    await asyncio.sleep(1.0)
    # Meanwhile a real tablet from 127.0.0.1 enrols and syncs.
    tablet(tmp, "enroll", "--server", server.url, "--code", server.code, "--name", "echt")
    tablet(tmp, "checkin", "dance", "Fatima el Amrani")
    out = tablet(tmp, "sync")
    assert "acked 1" in out, out
    print("ok - a real tablet enrols and syncs while 127.0.0.2 holds its share")

    results = await asyncio.gather(*crowd)
    refused = [t for kind, t in results if kind == "refused"]
    held = [t for kind, t in results if kind == "held"]
    assert len(held) == PENDING, f"{len(held)} held, {PENDING} expected"
    assert len(refused) == CROWD - PENDING, len(refused)
    assert max(refused) < 2, f"a refused socket stayed {max(refused):.1f} s"
    assert all(HELLO_TIMEOUT_S - 0.5 <= t <= HELLO_TIMEOUT_S + 5 for t in held), held
    print(f"ok - of {CROWD} silent sockets from one address {len(held)} were held and closed "
          f"after {min(held):.1f}..{max(held):.1f} s, {len(refused)} refused at once")
    assert "already holds 12 connections that have not been welcomed" in server.log_text()

    # Their slots are free again: the same address may connect once more.
    again = await websockets.connect(server.url, subprotocols=["turf.v1"], ping_interval=None,
                                     local_addr=("127.0.0.2", 0))
    await again.close()
    server.stop()


run(main)
