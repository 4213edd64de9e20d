"""A device whose connection ends while its hello is with the store (the
socket dropped right after hello, or a push sent before the welcome, which
closes with NOT_AUTHENTICATED) is not left shown as online: the hello
marked it online after the close had nothing to mark offline. Talks only
to 127.0.0.1."""
import asyncio
import os
import sys

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from access_lib import HELLO, PUSH, TALLY, Device, Server, now_ms, pack, run  # noqa: E402


async def online(server, device, want, what):
    for _ in range(100):
        rows = server.sql("select online from devices where id = ?", device)
        if rows and rows[0][0] == want:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: devices.online is {rows}, not {want}")


async def main(tmp):
    server = Server(tmp)
    session = server.sql("select id from sessions limit 1")[0][0]
    dropped, eager = Device(server), Device(server)
    for d in (dropped, eager):
        await d.enrol(server.code)
        await d.close()
        await online(server, d.device, 0, "after a clean close")

    # Hello, then the socket goes at once, before the welcome.
    ws = await websockets.connect(server.url, subprotocols=["turf.v1"])
    await ws.send(pack({"t": HELLO, "v": 1, "dev": dropped.device, "tok": dropped.token,
                        "now": now_ms()}))
    ws.transport.abort()
    await asyncio.sleep(0.5)
    await online(server, dropped.device, 0, "hello then a dropped socket")
    print("ok - a device whose socket dropped during its hello is offline")

    # Hello and a push in one go: the push before the welcome closes it.
    ws = await websockets.connect(server.url, subprotocols=["turf.v1"])
    await ws.send(pack({"t": HELLO, "v": 1, "dev": eager.device, "tok": eager.token,
                        "now": now_ms()}))
    await ws.send(pack({"t": PUSH, "ops": [{"s": 1, "h": now_ms() << 16, "y": TALLY,
                                            "k": session, "f": {1: 1}}]}))
    try:
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    except websockets.ConnectionClosed:
        pass
    await asyncio.sleep(0.5)
    await online(server, eager.device, 0, "a push before the welcome")
    print("ok - a device that pushed before its welcome is offline")

    # And a device that stays is online.
    await dropped.connect()
    assert (await dropped.hello())["t"] == 2
    await online(server, dropped.device, 1, "a welcomed device")
    await dropped.close()
    server.stop()


run(main)
