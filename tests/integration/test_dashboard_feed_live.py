"""The dashboard's event feed follows what tablets do, without being asked.

A feed client gets every part of the view when it connects (hello, orgs,
today, devices, conflicts, duplicates, messages), then, with no request of
its own: a check-in's name and headcount (named plus anonymous tally), a
walk-in, a tablet coming online and going offline (with its app, outbox and
clock offset), and a group message. A second organisation's feed is not
sent to this one's page, nor can it be asked for. Malformed commands get an error result and the
feed goes on.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import Feed, Tablet, run  # noqa: E402


async def test(server):
    zaal = Tablet(server, "Zaal 1")
    entree = Tablet(server, "Entree")
    feed = await Feed.open(server)
    assert feed.data("orgs") == [{"id": 1, "name": "Buurtwerk Demo", "tz": "Europe/Amsterdam"}], feed.data("orgs")
    dance = feed.session("Time to Dance")
    # "today" is turfd's date: the one its demo gave today's sessions.
    assert [(feed.data("today")["date"],)] == server.sql(
        "select date from sessions where id = '%s'" % dance["id"])
    assert dance["present"] == 0 and dance["tally"] == 0 and dance["checkins"] == []
    assert dance["location_name"] == "Huis van de Wijk Feijenoord"
    names = {d["name"]: d for d in feed.data("devices")}
    assert set(names) == {"Zaal 1", "Entree"}, names  # the server's own device is not a tablet
    assert names["Zaal 1"]["app"].startswith("turf-tablet/")
    assert feed.parts["devices"]["online"] == []
    assert feed.data("conflicts") == [] and feed.data("duplicates") == []
    assert {a["name"] for a in feed.data("messages")} == {"Time to Dance", "Koffieochtend"}

    # A check-in, then a walk-in and an anonymous visitor.
    zaal.run("checkin", "dance", "Fatima el Amrani")
    zaal.run("sync")
    await feed.until(lambda f: f.session("Time to Dance")["present"] == 1, "the check-in")
    c = feed.session("Time to Dance")["checkins"]
    assert [(x["name"], x["status"]) for x in c] == [("Fatima el Amrani", "present")], c
    # Arrival is the tablet's time of the check-in: near its op's HLC (ms).
    newest_ms = max(h >> 16 for (h,) in server.sql("select hlc from ops where org = 1"))
    assert abs(c[0]["arrived"] - newest_ms) < 600_000, (c, newest_ms)
    entree.run("walkin", "dance", "Nieuwe Buurvrouw")
    entree.run("tally", "dance", "2")
    entree.run("sync")
    await feed.until(lambda f: f.session("Time to Dance")["tally"] == 2
                     and f.session("Time to Dance")["present"] == 2, "walk-in and tally")
    assert {x["name"] for x in feed.session("Time to Dance")["checkins"]} == \
        {"Fatima el Amrani", "Nieuwe Buurvrouw"}
    last_seen = {d["name"]: d["last_seen"] for d in feed.data("devices")}
    assert last_seen["Entree"] and last_seen["Zaal 1"]

    # Online while connected, offline after; what it still has to push.
    zaal.run("checkout", "dance", "Fatima el Amrani")
    zaal_id = next(d["id"] for d in feed.data("devices") if d["name"] == "Zaal 1")
    watch = zaal.watch(3)
    await feed.until(lambda f: zaal_id in f.parts["devices"]["online"], "Zaal 1 online")
    watch.wait(timeout=60)
    assert watch.returncode == 0
    await feed.until(lambda f: zaal_id not in f.parts["devices"]["online"], "Zaal 1 offline")
    dev = next(d for d in feed.data("devices") if d["id"] == zaal_id)
    assert dev["outbox"] == 0 and dev["offset"] is not None
    await feed.until(lambda f: f.session("Time to Dance")["checkins"][0]["departed"] is not None,
                     "the check-out")

    # A group message, live.
    entree.run("post", "dance", "Koffie staat klaar")
    entree.run("sync")

    def posted(f):
        act = next(a for a in f.data("messages") if a["name"] == "Time to Dance")
        return [m["body"] for m in act["messages"]] == ["Koffie staat klaar"]
    await feed.until(posted, "the message")
    msg = next(a for a in feed.data("messages") if a["name"] == "Time to Dance")["messages"][0]
    assert msg["author_name"] == "Entree" and not msg["deleted"]

    # Bad commands: an error result each, and the feed stays.
    for bad in ("not json", "[1,2]", '{"t": "revert", "id": 1.5}', '{"t": {"x": 1}}',
                '{"t": "explode", "req": 41}', "{" + '"a":"' + "x" * 5000 + '"}'):
        await feed.ws.send(bad)
    await feed.until(lambda f: 41 in f.results, "the unknown command's result")
    assert feed.results[41]["ok"] is False and feed.results[41]["code"] == "UNKNOWN_TYPE"
    assert feed.results[0]["ok"] is False
    # Another organisation is not the coordinator's to see; their own is.
    res = await feed.command(t="org", org=99)
    assert res["ok"] is False and res["code"] == "OUT_OF_SCOPE", res
    before = feed.received
    await feed.ws.send(json.dumps({"t": "org", "org": 1}))
    await feed.until(lambda f: f.received >= before + len(f.parts), "organisation 1 again")
    assert all(m["org"] == 1 for m in feed.parts.values())
    await feed.ws.close()


run(test)
print("ok")
