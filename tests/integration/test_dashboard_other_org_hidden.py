"""A coordinator sees and acts on their own organisation only, and a
read-only coordinator cannot act at all.

Organisation A (the demo) has check-ins, a conflict and a probable duplicate
from its tablets; organisation B (made with turfctl) has its own tablet and
check-in. B's coordinator logs in: every message of their feed is about B,
none names anything of A (not a participant, tablet or the organisation's
name), not even while A's tablets keep pushing; asking for A's view is
refused, and reverting, dismissing or merging A's records by id is refused
without writing anything. A's viewer sees A's conflict but every action is
refused with a clear message, and nothing changes.
"""
import asyncio
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import WAIT_S, Feed, Tablet, run  # noqa: E402

TURFCTL = os.environ["TURFCTL"]
A_SECRETS = ("Fatima el Amrani", "Joop de Vries", "Nieuwe Buurvrouw", "Zaal 1", "Entree",
             "Buurtwerk Demo", "Huis van de Wijk", "Time to Dance")


def turfctl(server, *args, stdin=None):
    out = subprocess.run([TURFCTL, "--db", server.db, *args], input=stdin, capture_output=True,
                         text=True, timeout=WAIT_S)
    assert out.returncode == 0, (args, out.stderr)
    return out.stdout.strip()


async def test(server):
    # Organisation A: a conflict about Fatima, a duplicate walk-in.
    zaal, entree = Tablet(server, "Zaal 1"), Tablet(server, "Entree")
    zaal.run("checkin", "dance", "Fatima el Amrani")
    zaal.run("sync")
    entree.run("sync")
    zaal.run("status", "dance", "Fatima el Amrani", "absent")
    entree.run("status", "dance", "Fatima el Amrani", "excused")
    zaal.run("walkin", "dance", "Nieuwe Buurvrouw")
    entree.run("walkin", "dance", "nieuwe buurvrouw")
    for t in (zaal, entree, zaal):
        t.run("sync")
    conflict = server.sql("select id from conflicts where org = 1")
    assert len(conflict) == 1, conflict
    conflict = conflict[0][0]
    dups = [r[0] for r in server.sql("select id from participants where org = 1 "
                                     "and lower(name) = 'nieuwe buurvrouw'")]
    assert len(dups) == 2, dups

    # Organisation B, its tablet and coordinator; A's viewer.
    org_b = int(turfctl(server, "org", "create", "Buurtwerk Noord").split()[0])
    assert org_b != 1
    turfctl(server, "location", "create", "--org", str(org_b), "Wijkhuis Noord")
    turfctl(server, "activity", "create", "--org", str(org_b), "--location", "Wijkhuis Noord",
            "--start", "10:00", "Koor Noord")
    turfctl(server, "session", "create", "--org", str(org_b), "--activity", "Koor Noord",
            "--date", "today", "--start", "10:00")
    code = turfctl(server, "enroll", "--org", str(org_b), "--no-qr").split()
    code = next(w for w in code if len(w) == 8 and w.isalnum() and w.isupper())
    turfctl(server, "coordinator", "create", "--org", str(org_b), "--login", "bert",
            stdin="wachtwoord van bert\n")
    turfctl(server, "coordinator", "create", "--org", "1", "--login", "kijker", "--role",
            "viewer", stdin="wachtwoord van kijker\n")
    noord = Tablet.__new__(Tablet)
    noord.db, noord.wrap = os.path.join(server.tmp, "noord.db"), []
    noord.run("enroll", "--server", server.url, "--code", code, "--name", "Noord 1")
    noord.run("walkin", "Koor", "Bea Bakker")
    noord.run("sync")

    bert_cookie, status = server.log_in("bert", "wachtwoord van bert")
    assert bert_cookie, status
    bert = await Feed.open(server, cookie=bert_cookie)
    assert bert.data("orgs") == [{"id": org_b, "name": "Buurtwerk Noord", "tz": "Europe/Amsterdam"}], bert.data("orgs")
    assert [s["activity_name"] for s in bert.data("today")["sessions"]] == ["Koor Noord"]
    assert [c["name"] for c in bert.data("today")["sessions"][0]["checkins"]] == ["Bea Bakker"]
    assert [d["name"] for d in bert.data("devices")] == ["Noord 1"]
    assert bert.data("conflicts") == [] and bert.data("duplicates") == []

    # A keeps working while B's page is open; B's page hears none of it.
    a_feed = await Feed.open(server)
    zaal.run("checkin", "dance", "Joop de Vries")
    zaal.run("sync")
    await a_feed.until(lambda f: any(c["name"] == "Joop de Vries"
                                     for c in f.session("Time to Dance")["checkins"]), "Joop in A")
    noord.run("tally", "Koor")
    noord.run("sync")
    await bert.until(lambda f: f.data("today")["sessions"][0]["tally"] == 1, "B's tally")

    # Asking for A, or acting on A's records by id, is refused.
    res = await bert.command(t="org", org=1)
    assert res["ok"] is False and res["code"] == "OUT_OF_SCOPE", res
    ops_a = server.sql("select count(*) from ops where org = 1")[0][0]
    for cmd in ({"t": "revert", "id": conflict}, {"t": "dismiss", "id": conflict},
                {"t": "merge", "keep": dups[0], "drop": dups[1]}):
        res = await bert.command(**cmd)
        assert res["ok"] is False and res["code"] == "BAD_FIELD", (cmd, res)
    assert server.sql("select resolved from conflicts where id = ?", conflict)[0][0] in (None, 0)
    assert server.sql("select count(*) from participants where merged_into is not null") == [(0,)]
    assert server.sql("select count(*) from ops where org = 1")[0][0] == ops_a

    seen = json.dumps(bert.seen, ensure_ascii=False)
    for secret in A_SECRETS:
        assert secret not in seen, f"B's coordinator was sent {secret!r}"
    assert all(m.get("org", org_b) == org_b for m in bert.seen), \
        [m for m in bert.seen if m.get("org", org_b) != org_b]
    await bert.ws.close()
    await a_feed.ws.close()

    # A's viewer sees A, and may not change it.
    viewer_cookie, status = server.log_in("kijker", "wachtwoord van kijker")
    assert viewer_cookie, status
    viewer = await Feed.open(server, cookie=viewer_cookie)
    assert [c["id"] for c in viewer.data("conflicts")] == [conflict]
    assert len(viewer.data("duplicates")) == 1
    for cmd in ({"t": "revert", "id": conflict}, {"t": "dismiss", "id": conflict},
                {"t": "merge", "keep": dups[0], "drop": dups[1]}):
        res = await viewer.command(**cmd)
        assert res["ok"] is False and res["code"] == "BAD_CREDENTIALS", (cmd, res)
        assert "read" in res["message"], res
    assert server.sql("select resolved from conflicts where id = ?", conflict)[0][0] in (None, 0)
    assert server.sql("select count(*) from participants where merged_into is not null") == [(0,)]
    assert server.sql("select count(*) from ops where org = 1")[0][0] == ops_a
    await viewer.ws.close()


run(test)
print("ok")
