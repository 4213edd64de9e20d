"""An organisation's "today" is its own, not the server's.

turfd, turfctl and turf-tablet run with TZ=UTC at 00:30 in Amsterdam (23:30
UTC the day before; 22:30 in summer time), on clocks that name their dates
(libfaketime, absolute). The Amsterdam organisation (the demo) already has
the new day: the demo's sessions, the dashboard's "today", `turfctl session
create --date today`, and the sample tablet's sessions and times all say
so. An organisation set to UTC is still on the day before.
"""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import Feed, Tablet, run, turfctl  # noqa: E402

LIBFAKETIME = (glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") + [None])[0]
assert LIBFAKETIME, "libfaketime is not installed (scripts/setup --test installs it)"

# (UTC clock, the date in Amsterdam then, the date in UTC then)
CLOCKS = [("2027-01-14 23:30:00", "2027-01-15", "2027-01-14"),
          ("2027-07-14 22:30:00", "2027-07-15", "2027-07-14")]


def check(amsterdam, utc):
    async def test(server):
        # The demo organisation (Europe/Amsterdam) has the new day.
        assert server.sql("SELECT DISTINCT date FROM sessions") == [(amsterdam,)]
        feed = await Feed.open(server)
        assert feed.data("today")["date"] == amsterdam, feed.data("today")["date"]
        assert feed.data("orgs")[0]["tz"] == "Europe/Amsterdam"
        assert len(feed.data("today")["sessions"]) == 2
        listed = turfctl(server, "session", "list", "--org", "1", "--date", "today").split("\n")
        assert [line.split("\t")[1] for line in listed[1:]] == [amsterdam, amsterdam], listed

        # So has the sample tablet, told the zone by its welcome: its
        # sessions are today's, and times are Amsterdam's (00:3x).
        zaal = Tablet(server, "Zaal 1")
        sessions = zaal.run("sessions")
        assert sessions.count(amsterdam) == 2, sessions
        person = zaal.run("people").split("\n")[0].split("\t")[0]
        session = sessions.split("\n")[0].split("\t")[0]
        zaal.run("checkin", session, person)
        attendance = zaal.run("attendance", session)
        assert "\t00:3" in attendance, attendance

        # An organisation in UTC is still on the day before.
        org = turfctl(server, "org", "create", "--tz", "UTC", "Club UTC")
        turfctl(server, "location", "create", "--org", org, "Zaal")
        turfctl(server, "activity", "create", "--org", org, "--location", "Zaal", "Dans")
        assert turfctl(server, "session", "create", "--org", org, "--activity", "Dans",
                       "--date", "today").endswith(utc)
    return test


for at, amsterdam, utc in CLOCKS:
    # The programs' wrapper (tests/with-clock) puts them on this clock; a
    # clock of scripts/test-clocks is replaced by it.
    os.environ.update(TZ="UTC", TURF_TEST_FAKETIME="@" + at, TURF_TEST_LIBFAKETIME=LIBFAKETIME)
    run(check(amsterdam, utc))
