"""A coordinator finds a participant and opens their page.

Past sessions of "Time to Dance" (dates named here, June 2025) and today's
demo session get check-ins from a real tablet; Élodie Müller comes in as a
walk-in with a referral and a phone number. The search "people" ignores
case, accents and punctuation, needs every word typed to start a word of the
name, and leaves out someone merged into another. The page "person" counts
visits per activity as "of the sessions held since the first visit" (one
called off with turfctl does not count), gives first and last visit, the referral and the
attendance history newest first; it follows a check-in recorded later by
itself. Contact details are on a coordinator's page and never on a viewer's.
A search too long and an id that is no id get a clear refusal.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import Feed, Tablet, run, turfctl  # noqa: E402

# Named, not taken from the clock: days before any day this test runs.
DATES = ("2025-06-04", "2025-06-11", "2025-06-18", "2025-06-25")


async def test(server):
    feed = await Feed.open(server)
    dance = feed.session("Time to Dance")
    # The date of the demo's session, taken when it is read: the test may
    # run across midnight, when "today" moves on and the session does not.
    dance_date = feed.data("today")["date"]
    act = dance["activity"]
    past = [turfctl(server, "session", "create", "--org", "1", "--activity", act, "--date", d,
                    "--start", "10:00") for d in DATES]
    # The third was called off: not a session she could have come to.
    turfctl(server, "session", "cancel", "--org", "1", past[2])
    zaal = Tablet(server, "Zaal 1")
    elodie = zaal.run("walkin", past[0], "Élodie Müller", "--referral", "wijkteam",
                      "--contact", "06 12345678").strip()
    zaal.run("checkin", past[0], "Fatima el Amrani")
    zaal.run("status", past[1], "Élodie Müller", "excused")
    zaal.run("checkin", past[3], "Élodie Müller")
    zaal.run("checkout", past[3], "Élodie Müller")
    zaal.run("sync")

    # The search: case, accents and punctuation aside, every word a start.
    for q in ("elodie", "MULLER", "müll élo", "Elodie-Muller"):
        assert (await feed.command(t="people", q=q))["ok"]
        await feed.until(lambda f: "people" in f.parts and f.data("people")["q"] == q, q)
        found = feed.data("people")
        assert [p["name"] for p in found["people"]] == ["Élodie Müller"], (q, found)
        assert found["total"] == 1
    p = found["people"][0]
    assert p["id"] == elodie and p["visits"] == 2 and p["last"] == DATES[3], p
    assert (await feed.command(t="people", q="lodie"))["ok"]
    await feed.until(lambda f: f.data("people")["q"] == "lodie", "lodie")
    assert feed.data("people")["people"] == []

    # Her page.
    assert (await feed.command(t="person", participant=elodie))["ok"]
    await feed.until(lambda f: "person" in f.parts, "her page")
    me = feed.data("person")
    assert me["name"] == "Élodie Müller" and me["referral"] == "wijkteam", me
    assert me["contact"] == "06 12345678"
    assert (me["visits"], me["first"], me["last"]) == (2, DATES[0], DATES[3]), me
    [a] = me["activities"]
    # Since 4 June: four past sessions (one called off) and today's.
    assert (a["name"], a["visits"], a["of"]) == ("Time to Dance", 2, 4), a
    hist = [(h["date"], h["status"]) for h in me["history"]]
    assert hist == [(DATES[3], "present"), (DATES[1], "excused"), (DATES[0], "present")], hist
    assert me["history"][0]["departed"] is not None and me["history"][0]["activity_name"] == "Time to Dance"

    # Today she comes again: the page follows by itself.
    zaal.run("checkin", dance["id"], elodie)
    zaal.run("sync")
    await feed.until(lambda f: f.data("person")["visits"] == 3, "today's visit")
    assert feed.data("person")["activities"][0]["of"] == 4
    assert feed.data("person")["last"] == dance_date

    # A viewer sees her visits, never her phone number.
    turfctl(server, "coordinator", "create", "--org", "1", "--login", "kijker", "--role", "viewer",
            stdin="wachtwoord van de kijker\n")
    cookie, status = server.log_in("kijker", "wachtwoord van de kijker")
    assert cookie, status
    viewer = await Feed.open(server, cookie=cookie)
    assert (await viewer.command(t="person", participant=elodie))["ok"]
    await viewer.until(lambda f: "person" in f.parts, "the viewer's page")
    assert viewer.data("person")["visits"] == 3 and viewer.data("person")["contact"] is None
    await viewer.ws.close()

    # Someone merged into another is found as that other.
    assert (await feed.command(t="people", q="fatima"))["ok"]
    await feed.until(lambda f: f.data("people")["q"] == "fatima", "fatima")
    fatima = feed.data("people")["people"][0]["id"]
    twin = zaal.run("walkin", past[3], "Fatima El-Amrani").strip()
    zaal.run("sync")
    assert (await feed.command(t="people", q="fatima amrani"))["ok"]
    await feed.until(lambda f: f.data("people")["q"] == "fatima amrani"
                     and f.data("people")["total"] == 2, "both Fatimas")
    assert (await feed.command(t="merge", keep=fatima, drop=twin))["ok"]
    await feed.until(lambda f: f.data("people")["total"] == 1, "the merge")
    assert feed.data("people")["people"][0]["visits"] == 2
    assert (await feed.command(t="person", participant=twin))["ok"]
    await feed.until(lambda f: f.data("person")["id"] == twin, "the twin's page")
    assert feed.data("person")["merged_into"] == fatima
    assert feed.data("person")["merged_into_name"] == "Fatima el Amrani"

    # Refusals, and the page goes on.
    res = await feed.command(t="people", q="x" * 101)
    assert not res["ok"] and res["code"] == "BAD_FIELD", res
    res = await feed.command(t="person", participant="not an id!")
    assert not res["ok"] and res["code"] == "BAD_FIELD", res
    assert (await feed.command(t="person", participant="no-such-person"))["ok"]
    await feed.until(lambda f: f.data("person")["id"] == "no-such-person", "a missing page")
    assert feed.data("person")["missing"] == 1


if __name__ == "__main__":
    run(test)
