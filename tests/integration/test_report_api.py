"""The funder report: its figures, the download API and the log of downloads.

Four sessions of "Time to Dance" in January to March 2025 (dates named
here) get check-ins, walk-ins with referrals and tallies from a real
tablet; one walk-in is named like a spreadsheet formula. A fifth session,
with a check-in, is called off with turfctl and counts apart. The dashboard's
"report" command answers the period's tables, and every figure is checked
against what was recorded: sessions, visits named and anonymous, unique,
new and returning participants, the average, months (February's new one
only), how often people came and who sent the new ones; a later period
counts January's people as returning. /api/report gives a table as CSV
(byte order mark, Dutch headers, ';' and a decimal comma, or ',' and a
point in English; the formula cell made harmless) and as JSON; the list of
participants shows pseudonyms unless names=1, and only to coordinators.
Every download is logged before it is sent and listed on coordinators'
pages, never on a viewer's. No cookie, a viewer asking for participants
and malformed parameters get clear refusals.
"""
import csv
import http.client
import io
import json
import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import Feed, Tablet, run, turfctl  # noqa: E402

JAN8, JAN15, FEB5, MAR5 = "2025-01-08", "2025-01-15", "2025-02-05", "2025-03-05"
FORMULA = "=SUM(A1)"


def get(server, path, cookie):
    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    con.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    res = con.getresponse()
    body = res.read()
    headers = dict((k.lower(), v) for k, v in res.getheaders())
    con.close()
    return res.status, headers, body


def table(report, name):
    t = report["tables"][name]
    return [dict(zip(t["columns"], row)) for row in t["rows"]]


async def test(server):
    feed = await Feed.open(server)
    act = feed.session("Time to Dance")["activity"]
    ids = {d: turfctl(server, "session", "create", "--org", "1", "--activity", act, "--date", d,
                      "--start", "10:00") for d in (JAN8, JAN15, FEB5, MAR5)}
    zaal = Tablet(server, "Zaal 1")
    zaal.run("checkin", ids[JAN8], "Fatima el Amrani")
    zaal.run("checkin", ids[JAN8], "Joop de Vries")
    zaal.run("walkin", ids[JAN8], "Noor Haddad", "--referral", "buurtcoach")
    zaal.run("tally", ids[JAN8], "2")
    zaal.run("checkin", ids[JAN15], "Fatima el Amrani")
    zaal.run("status", ids[JAN15], "Mehmet Yilmaz", "excused")
    zaal.run("checkin", ids[FEB5], "Fatima el Amrani")
    zaal.run("checkin", ids[FEB5], "Joop de Vries")
    zaal.run("walkin", ids[FEB5], FORMULA, "--referral", "wijkteam")
    zaal.run("tally", ids[FEB5], "1")
    zaal.run("checkin", ids[MAR5], "Fatima el Amrani")
    # A fifth session is called off (and on, and off again): its check-in
    # is no visit, and it is no session held.
    off = turfctl(server, "session", "create", "--org", "1", "--activity", act, "--date",
                  "2025-02-12", "--start", "10:00")
    zaal.run("sync")
    zaal.run("checkin", off, "Joop de Vries")
    for undo in ((), ("--undo",), ()):
        turfctl(server, "session", "cancel", "--org", "1", *undo, off)
    zaal.run("sync")

    # The whole quarter.
    res = await feed.command(t="report", **{"from": "2025-01-01", "to": "2025-03-31"})
    await feed.until(lambda f: any(m["t"] == "report" for m in f.seen), "the report")
    report = next(m for m in feed.seen if m["t"] == "report")["data"]
    assert res["ok"] and report["from"] == "2025-01-01" and report["to"] == "2025-03-31"
    assert "participants" not in report["tables"]
    [summary] = table(report, "summary")
    assert summary == {"sessions": 4, "cancelled": 1, "visits": 11, "named": 8, "anonymous": 3,
                       "participants": 4, "new": 4, "returning": 0, "average": 2.8}, summary
    months = {m["month"]: m for m in table(report, "months")}
    assert list(months) == ["2025-01", "2025-02", "2025-03"]
    assert months["2025-01"] == {"month": "2025-01", "sessions": 2, "visits": 6, "named": 4,
                                 "anonymous": 2, "participants": 3, "new": 3}, months
    assert (months["2025-02"]["new"], months["2025-02"]["participants"]) == (1, 3)
    assert (months["2025-03"]["visits"], months["2025-03"]["new"]) == (1, 0)
    [dance] = table(report, "activities")
    assert (dance["activity"], dance["sessions"], dance["visits"], dance["new"]) == (
        "Time to Dance", 4, 11, 4), dance
    assert dance["location"] == "Huis van de Wijk Feijenoord"
    assert [(f["visits"], f["participants"]) for f in table(report, "frequency")] == [
        ("1", 2), ("2\u20133", 1), ("4\u20139", 1), ("10+", 0)]
    assert [(r["referral"], r["new"]) for r in table(report, "referrals")] == [
        (None, 1), ("buurtcoach", 1), ("huisarts", 1), ("wijkteam", 1)]

    # February and March: January's people come back, one is new.
    await feed.command(t="report", **{"from": "2025-02-01", "to": "2025-03-31"})
    await feed.until(lambda f: [m for m in f.seen if m["t"] == "report"][-1]["data"]["from"]
                     == "2025-02-01", "the second report")
    later = [m for m in feed.seen if m["t"] == "report"][-1]["data"]
    [s2] = table(later, "summary")
    assert (s2["sessions"], s2["participants"], s2["new"], s2["returning"]) == (2, 3, 1, 2), s2

    # Refusals of the command.
    for bad in ({"from": "2025-13-01", "to": "2025-03-31"}, {"from": "2025-03-01", "to": "2025-01-31"},
                {"from": "1990-01-01", "to": "2025-01-31"}, {"from": "2025-01-01", "to": "2025-01-31",
                                                             "activity": "no id!"}):
        res = await feed.command(t="report", **bad)
        assert not res["ok"] and res["code"] == "BAD_FIELD", (bad, res)

    cookie = server.cookie()
    period = "from=2025-01-01&to=2025-03-31"

    # CSV for a Dutch spreadsheet.
    status, headers, body = get(server, f"/api/report?{period}&table=months&format=csv", cookie)
    assert status == 200, body
    assert headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["content-disposition"] == \
        'attachment; filename="turf-months-2025-01-01-2025-03-31.csv"'
    assert body.startswith(b"\xef\xbb\xbf") and b"\r\n" in body
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8")), delimiter=";"))
    assert rows[0] == ["Maand", "Bijeenkomsten", "Bezoeken", "Met naam", "Anoniem", "Deelnemers",
                       "Nieuw"], rows[0]
    assert rows[1] == ["2025-01", "2", "6", "4", "2", "3", "3"], rows
    assert len(rows) == 4
    status, _, body = get(server, f"/api/report?{period}&table=summary&format=csv", cookie)
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8")), delimiter=";"))
    assert rows[1][-1] == "2,8" and rows[0][-1] == "Gemiddeld per bijeenkomst", rows
    status, _, body = get(server, f"/api/report?{period}&table=summary&format=csv&sep=,&lang=en",
                          cookie)
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8"))))
    assert rows[0][0] == "Sessions" and rows[1][-1] == "2.8", rows

    # The participants: pseudonyms, unless names are asked for.
    status, _, body = get(server, f"/api/report?{period}&table=participants&format=csv", cookie)
    assert status == 200
    text = body.decode("utf-8")
    assert "Fatima" not in text and FORMULA not in text, text
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert rows[0] == ["Deelnemer", "Bezoeken", "Eerste keer", "Laatste keer", "Nieuw",
                       "Verwezen door"], rows
    assert len(rows) == 5 and all(r[0].startswith("P-") for r in rows[1:]), rows
    assert sorted(int(r[1]) for r in rows[1:]) == [1, 1, 2, 4]
    status, _, body = get(server, f"/api/report?{period}&table=participants&format=csv&names=1",
                          cookie)
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8")), delimiter=";"))
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["Fatima el Amrani"][1:5] == ["4", JAN8, MAR5, "1"], by_name
    # A name that a spreadsheet would run as a formula is written as text.
    assert "'" + FORMULA in by_name, by_name

    # JSON for a program: one table, or every one but the participants.
    status, headers, body = get(server, f"/api/report?{period}&table=frequency", cookie)
    assert status == 200 and headers["content-type"] == "application/json"
    assert "content-disposition" not in headers
    doc = json.loads(body)
    assert list(doc["tables"]) == ["frequency"] and doc["tables"]["frequency"]["rows"][0] == ["1", 2]
    status, _, body = get(server, f"/api/report?{period}&format=json", cookie)
    assert status == 200 and sorted(json.loads(body)["tables"]) == [
        "activities", "frequency", "months", "referrals", "summary"]

    # Every download is listed on the coordinator's page, newest first.
    await feed.until(lambda f: "exports" in f.parts and len(f.data("exports")) == 7, "the log")
    log = feed.data("exports")
    assert [(e["what"].split()[0], e["format"], e["rows"], e["names"]) for e in log] == [
        ("all", "json", 13, 0), ("frequency", "json", 4, 0), ("participants", "csv", 4, 1),
        ("participants", "csv", 4, 0), ("summary", "csv", 1, 0), ("summary", "csv", 1, 0),
        ("months", "csv", 3, 0)], log
    assert all(e["login"] == server.login for e in log)
    assert log[2]["what"] == "participants 2025-01-01..2025-03-31"
    assert server.sql("SELECT count(*) FROM exports")[0][0] == 7

    # Refusals.
    status, _, body = get(server, f"/api/report?{period}&table=months&format=csv", None)
    assert status == 401, body
    for query, want in ((f"{period}&table=nosuch", 404), ("from=2025-01-01&to=2025", 400),
                        (f"{period}&format=xml", 400), (f"{period}&format=csv", 400),
                        (f"{period}&table=months&names=1", 400), (f"{period}&sep=%09", 400),
                        ("from=" + "9" * 300, 400), (f"{period}&table=" + "x" * 600, 400),
                        ("from=2000-01-01&to=2025-12-31", 400)):
        status, _, body = get(server, f"/api/report?{query}", cookie)
        assert status == want and json.loads(body)["error"], (query, status, body)
    status, _, _ = get(server, "/api/nothing", cookie)
    assert status == 404
    # A download abandoned before its answer: nothing is sent, nothing
    # logged, and the server goes on.
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        sock.sendall(f"GET /api/report?{period}&table=participants&format=csv HTTP/1.1\r\n"
                     f"Host: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n".encode())
        sock.close()
    status, _, _ = get(server, f"/api/report?{period}&table=summary", cookie)
    assert status == 200

    # A viewer: the figures, not the people, and no list of downloads.
    turfctl(server, "coordinator", "create", "--org", "1", "--login", "kijker", "--role", "viewer",
            stdin="wachtwoord van de kijker\n")
    viewer_cookie, status = server.log_in("kijker", "wachtwoord van de kijker")
    assert viewer_cookie, status
    status, _, body = get(server, f"/api/report?{period}&table=participants&format=csv",
                          viewer_cookie)
    assert status == 403, body
    status, _, _ = get(server, f"/api/report?{period}&table=months&format=csv", viewer_cookie)
    assert status == 200
    viewer = await Feed.open(server, cookie=viewer_cookie)
    assert "exports" not in viewer.parts and not any(m["t"] == "exports" for m in viewer.seen)
    await feed.until(lambda f: f.data("exports")[0]["login"] == "kijker", "the viewer's download")
    assert feed.data("exports")[0]["login"] == "kijker"
    assert not any(m["t"] == "exports" for m in viewer.seen)
    await viewer.ws.close()
    # Each download that was sent is logged once: at most the five
    # abandoned ones more (logged when their answer was ready first).
    assert 9 <= server.sql("SELECT count(*) FROM exports")[0][0] <= 14


if __name__ == "__main__":
    run(test)
