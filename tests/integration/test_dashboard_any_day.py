"""A coordinator looks at any day, and at an activity's earlier sessions.

Two past sessions of "Time to Dance" (dates named here, 2025-06-04 and
2025-06-11) get check-ins from a real tablet: people present, one excused,
a walk-in with a referral, a departure, a tally and the teacher's session
log. The page asks for the first date ("day"): the sessions of that date
come as the part "day", with who came (status, arrival, departure), the
tally, the log and who came for the first time (with who sent them); a
check-in recorded afterwards reaches it without asking again. The second
date names as new only who had not come before. The activity's history
lists both, newest first, with their counts. A date that is no date and an
id that is no id get a clear refusal, and the page goes on.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import Feed, Tablet, run, turfctl  # noqa: E402

# Named, not taken from the clock: days before any day this test runs
# (the suite's clocks too), so the demo's session of today is newer.
FIRST, SECOND = "2025-06-04", "2025-06-11"


async def test(server):
    feed = await Feed.open(server)
    act = feed.session("Time to Dance")["activity"]
    first = turfctl(server, "session", "create", "--org", "1", "--activity", act, "--date", FIRST,
                    "--start", "10:00")
    second = turfctl(server, "session", "create", "--org", "1", "--activity", act, "--date",
                     SECOND, "--start", "10:00")
    zaal = Tablet(server, "Zaal 1")
    zaal.run("checkin", first, "Fatima el Amrani")
    zaal.run("checkin", first, "Joop de Vries")
    zaal.run("checkout", first, "Joop de Vries")
    zaal.run("status", first, "Mehmet Yilmaz", "excused")
    zaal.run("walkin", first, "Noor Haddad", "--referral", "buurtcoach")
    zaal.run("tally", first, "3")
    zaal.run("log", first, "--headcount", "9", "--notes", "Zaal was te warm")
    zaal.run("checkin", second, "Fatima el Amrani")
    zaal.run("checkin", second, "Priya Ramdin")
    zaal.run("sync")

    # Another day: its sessions, as today's are shown.
    assert (await feed.command(t="day", date=FIRST))["ok"]
    await feed.until(lambda f: "day" in f.parts and f.data("day")["date"] == FIRST, "the day")
    day = feed.data("day")
    assert [s["id"] for s in day["sessions"]] == [first], day
    s = day["sessions"][0]
    came = {c["name"]: c for c in s["checkins"]}
    assert set(came) == {"Fatima el Amrani", "Joop de Vries", "Mehmet Yilmaz", "Noor Haddad"}, came
    assert came["Mehmet Yilmaz"]["status"] == "excused"
    assert came["Joop de Vries"]["departed"] is not None
    assert s["present"] == 3 and s["tally"] == 3
    assert s["log"]["headcount"] == 9 and s["log"]["notes"] == "Zaal was te warm"
    new = {p["name"]: p["referral"] for p in s["new"]}
    assert new == {"Fatima el Amrani": "huisarts", "Joop de Vries": None, "Noor Haddad": "buurtcoach"}, new
    # Today's part is still today's.
    assert feed.data("today")["date"] != FIRST

    # A check-in recorded now for that day reaches the page by itself.
    zaal.run("checkin", first, "Anneke Bakker")
    zaal.run("sync")
    await feed.until(lambda f: f.data("day")["sessions"][0]["present"] == 4, "the day's new check-in")

    # A week later only Priya was new.
    assert (await feed.command(t="day", date=SECOND))["ok"]
    await feed.until(lambda f: f.data("day")["date"] == SECOND, "the second day")
    assert [p["name"] for p in feed.data("day")["sessions"][0]["new"]] == ["Priya Ramdin"]

    # The activity's sessions, newest first (today's demo session first).
    assert (await feed.command(t="history", activity=act))["ok"]
    await feed.until(lambda f: "history" in f.parts, "the history")
    hist = feed.data("history")
    assert hist["activity"] == act and hist["name"] == "Time to Dance"
    dates = [x["date"] for x in hist["sessions"]]
    assert dates == sorted(dates, reverse=True) and dates[-2:] == [SECOND, FIRST], dates
    by_date = {x["date"]: x for x in hist["sessions"]}
    assert (by_date[FIRST]["present"], by_date[FIRST]["tally"]) == (4, 3)
    assert (by_date[SECOND]["present"], by_date[SECOND]["tally"]) == (2, 0)

    # Nonsense is refused in words; the page goes on.
    for bad in ({"t": "day", "date": "2025-02-30"}, {"t": "day", "date": "gisteren"},
                {"t": "history", "activity": "twee woorden"}):
        res = await feed.command(**bad)
        assert not res["ok"] and res["code"] == "BAD_FIELD", res
    assert (await feed.command(t="day", date=""))["ok"]  # back to today only
    zaal.run("checkin", second, "Anneke Bakker")
    zaal.run("sync")
    await feed.until(lambda f: by_count(f, SECOND) == 3, "history follows a new check-in")


def by_count(feed, date):
    return {x["date"]: x["present"] for x in feed.data("history")["sessions"]}[date]


run(test)
