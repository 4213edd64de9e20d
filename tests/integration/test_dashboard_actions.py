"""A coordinator's revert, dismiss and merge, sent over the dashboard's feed.

Reverts and merges are ops of the server's own device ("server"), with
contiguous device_seqs after the demo seed's: a connected turf.v1 client
receives each one live, tablets receive them by pull, and all converge.
Dismissing a conflict writes no op. Refusals come back as results: an
unknown conflict or participant, a conflict already resolved, a merge into
oneself or in a circle.
"""
import asyncio
import os
import sys
import uuid

import msgpack
import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import WAIT_S, Feed, Tablet, run  # noqa: E402

HELLO, WELCOME, PULL, CHANGES, LIVE = 1, 2, 5, 6, 7


class LiveClient:
    """A turf.v1 device that pulls until caught up and then only listens."""

    @classmethod
    async def open(cls, server):
        self = cls()
        self.ws = await websockets.connect(server.url, subprotocols=["turf.v1"])
        await self.ws.send(msgpack.packb({"t": HELLO, "v": 1, "dev": str(uuid.uuid4()),
                                          "code": server.code, "name": "Observer"}))
        assert (await self.frame())["t"] == WELCOME
        cursor = 0
        while True:
            await self.ws.send(msgpack.packb({"t": PULL, "cur": cursor}))
            page = await self.frame()
            assert page["t"] == CHANGES, page
            cursor = page["cur"]
            if not page["more"]:
                return self

    async def frame(self):
        raw = await asyncio.wait_for(self.ws.recv(), WAIT_S)
        return msgpack.unpackb(raw, strict_map_key=False, raw=False)

    async def live_server_op(self):
        while True:
            f = await self.frame()
            if f["t"] == LIVE:
                ops = [op for op in f["ops"] if op["d"] == "server"]
                if ops:
                    return ops[0]


async def test(server):
    zaal, entree = Tablet(server, "Zaal 1"), Tablet(server, "Entree")
    for t in (zaal, entree):
        t.run("sync")
    seed_ops = server.sql("select count(*) from ops where device = 'server'")[0][0]
    assert server.sql("select last_seq from devices where id = 'server'")[0][0] == seed_ops

    # Two conflicts: different statuses for Fatima and for Joop.
    for person in ("Fatima el Amrani", "Joop de Vries"):
        zaal.run("checkin", "dance", person)
    zaal.run("sync")
    entree.run("sync")
    for person in ("Fatima el Amrani", "Joop de Vries"):
        zaal.run("status", "dance", person, "absent")
        entree.run("status", "dance", person, "excused")
    zaal.run("sync")
    entree.run("sync")
    zaal.run("sync")

    feed = await Feed.open(server)
    await feed.until(lambda f: len(f.data("conflicts")) == 2, "two conflicts")
    by_subject = {c["subject"]: c for c in feed.data("conflicts")}
    fatima, joop = by_subject["Fatima el Amrani"], by_subject["Joop de Vries"]
    assert fatima["type"] == "checkin" and fatima["field"] == "status"
    assert {fatima["lost_value"], fatima["kept_value"]} == {"absent", "excused"}
    assert {fatima["lost_device_name"], fatima["kept_device_name"]} == {"Zaal 1", "Entree"}
    assert fatima["context"].startswith("Time to Dance ")
    assert fatima["resolved"] == 0 and fatima["lost_ms"] > 0 and fatima["kept_ms"] > 0

    # Revert Fatima's: the connected observer gets the server's op live.
    observer = await LiveClient.open(server)
    res = await feed.command(t="revert", id=fatima["id"])
    assert res["ok"] is True, res
    op = await observer.live_server_op()
    assert op["y"] == 5 and op["f"] == {1: fatima["lost_value"]}, op
    assert op["s"] == seed_ops + 1
    await feed.until(lambda f: any(c["id"] == fatima["id"] and c["resolved"] == 1
                                   for c in f.data("conflicts")), "Fatima's conflict reverted")
    await feed.until(lambda f: any(c["name"] == "Fatima el Amrani"
                                   and c["status"] == fatima["lost_value"]
                                   for c in f.session("Time to Dance")["checkins"]),
                     "Fatima's reverted status on the page")

    # Refusals.
    again = await feed.command(t="revert", id=fatima["id"])
    assert again["ok"] is False and again["code"] == "INVALID_OP", again
    nothing = await feed.command(t="revert", id=9999)
    assert nothing["ok"] is False and nothing["code"] == "BAD_FIELD", nothing

    # Dismiss Joop's: closed, no op written.
    ops_before = server.sql("select count(*) from ops")[0][0]
    res = await feed.command(t="dismiss", id=joop["id"])
    assert res["ok"] is True, res
    await feed.until(lambda f: any(c["id"] == joop["id"] and c["resolved"] == 2
                                   for c in f.data("conflicts")), "Joop's conflict dismissed")
    assert server.sql("select count(*) from ops")[0][0] == ops_before

    # Duplicate walk-ins, merged.
    zaal.run("walkin", "dance", "Nieuwe Buurvrouw")
    entree.run("walkin", "dance", "Nieuwe buurvrouw ")
    zaal.run("sync")
    entree.run("sync")
    await feed.until(lambda f: len(f.data("duplicates")) == 1, "the duplicate")
    a, b = feed.data("duplicates")[0]["members"]
    assert {a["creator_name"], b["creator_name"]} == {"Zaal 1", "Entree"}
    same = await feed.command(t="merge", keep=a["id"], drop=a["id"])
    assert same["ok"] is False and same["code"] == "INVALID_OP", same
    unknown = await feed.command(t="merge", keep=a["id"], drop="no-such-person")
    assert unknown["ok"] is False and unknown["code"] == "BAD_FIELD", unknown
    res = await feed.command(t="merge", keep=a["id"], drop=b["id"])
    assert res["ok"] is True, res
    op = await observer.live_server_op()
    assert op["y"] == 4 and op["k"] == b["id"] and op["f"] == {6: a["id"]}, op
    circle = await feed.command(t="merge", keep=b["id"], drop=a["id"])
    assert circle["ok"] is False and circle["code"] == "INVALID_OP", circle
    await feed.until(lambda f: f.data("duplicates") == [], "no duplicates left")
    await feed.until(lambda f: [c["participant"] for c in f.session("Time to Dance")["checkins"]
                                if "uurvrouw" in c["name"]] == [a["id"]], "one Buurvrouw")
    await observer.ws.close()
    await feed.ws.close()

    # The server's device_seqs are contiguous and match devices.last_seq.
    seqs = [r[0] for r in server.sql("select seq from ops where device = 'server' order by seq")]
    assert seqs == list(range(1, seed_ops + 3)), seqs
    assert server.sql("select last_seq from devices where id = 'server'")[0][0] == seed_ops + 2

    # The tablets pull it all and converge.
    zaal.run("sync")
    entree.run("sync")
    zaal.run("sync")
    assert zaal.run("dump") == entree.run("dump")
    att = zaal.run("attendance")
    assert f"Fatima el Amrani\t{fatima['lost_value']}\t" in att, att
    assert sum("uurvrouw" in line for line in att.split("\n")) == 1, att


run(test)
print("ok")
