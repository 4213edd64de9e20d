"""A check-in taken back on one tablet is no check-in anywhere.

Tablet "Zaal 1" checks Fatima in for Time to Dance; tablet "Entree" syncs,
sees her, and undoes the check-in (`turf-tablet uncheck`: status nil,
PROTOCOL.md 4.3). After both sync, neither tablet's attendance nor the
sessions headcount lists her, the dashboard's session list, headcount and
arrivals (its checkins) leave her out, and the server's checkins view holds
her row with status NULL (not "absent"), the arrival kept. Zaal 1 then
checks her in again, later: that wins by LWW everywhere.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import TABLET, Feed, Tablet, run  # noqa: E402

PERSON = "Fatima el Amrani"


def listed(tablet, session):
    """The names on tablet's attendance of session, with their status."""
    out = tablet.run("attendance", session)
    lines = out.splitlines()
    assert lines and "headcount=" in lines[0], out
    return [tuple(line.strip().split("\t")[:2]) for line in lines[1:]], lines[0]


def session_count(tablet, session):
    """The headcount the sessions view prints for session."""
    for line in tablet.run("sessions").splitlines():
        cols = line.split("\t")
        if cols[0] == session:
            return int(cols[3])
    raise AssertionError(f"session {session} not in the tablet's sessions")


async def test(server):
    usage = subprocess.run([TABLET, "--help"], capture_output=True, text=True, timeout=60).stdout
    assert "uncheck SESSION PERSON" in usage, usage
    zaal = Tablet(server, "Zaal 1")
    entree = Tablet(server, "Entree")
    feed = await Feed.open(server)
    dance = feed.session("Time to Dance")["id"]
    fatima = zaal.run("people")
    fatima = next(line.split("\t")[0] for line in fatima.splitlines() if line.endswith(PERSON))

    zaal.run("checkin", "dance", PERSON)
    zaal.run("sync")
    entree.run("sync")
    await feed.until(lambda f: f.session("Time to Dance")["present"] == 1, "the check-in")
    people, head = listed(entree, dance)
    assert people == [(PERSON, "present")] and "headcount=1" in head, (people, head)

    # Undone on the other tablet: gone from its own list at once, offline.
    entree.run("uncheck", "dance", PERSON)
    people, head = listed(entree, dance)
    assert people == [] and "headcount=0" in head, (people, head)
    entree.run("sync")
    zaal.run("sync")

    await feed.until(lambda f: f.session("Time to Dance")["present"] == 0, "the undo")
    s = feed.session("Time to Dance")
    assert s["checkins"] == [], s  # the session list and the arrivals feed read these
    for t in (zaal, entree):
        people, head = listed(t, dance)
        assert people == [] and "headcount=0" in head, (people, head)
        assert session_count(t, dance) == 0
    rows = server.sql("select status, arrived from checkins where session = ? and participant = ?",
                      dance, fatima)
    assert len(rows) == 1 and rows[0][0] is None and rows[0][1] is not None, rows
    assert server.sql("select count(*) from checkins where status = 'absent'") == [(0,)]

    # Checked in again on the first tablet, later than the undo: present.
    zaal.run("checkin", "dance", PERSON)
    zaal.run("sync")
    entree.run("sync")
    await feed.until(lambda f: f.session("Time to Dance")["present"] == 1, "the new check-in")
    assert [c["name"] for c in feed.session("Time to Dance")["checkins"]] == [PERSON]
    for t in (zaal, entree):
        people, head = listed(t, dance)
        assert people == [(PERSON, "present")] and "headcount=1" in head, (people, head)
    assert server.sql("select status from checkins where session = ? and participant = ?",
                      dance, fatima) == [("present",)]
    await feed.ws.close()
    print("ok - a check-in undone on one tablet is counted nowhere, and can be redone")


if __name__ == "__main__":
    run(test)
