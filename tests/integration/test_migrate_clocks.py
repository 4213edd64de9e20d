"""A server database and two tablet files written before the field clocks
moved into the record rows (server schema 3, tablet file 2; fixtures/, made
by the turfd and turf-tablet of that version: two tablets that checked in the
same person, tallied, posted, logged a session and changed a status on both
sides, added the same walk-in twice, which a coordinator merged, and one
tablet with two ops still in its outbox) are opened by
today's turfd and turf-tablet. Every record and every field clock must come
through the migration unchanged, the outbox must sync, later edits must be
merged against the migrated clocks, and a newly enrolled tablet must end
with the same replica as the migrated ones."""
import os
import sqlite3
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from turfd_proc import run_test, start_turfd  # noqa: E402

TABLET = os.environ["TURF_TABLET"]
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
RECORD_TABLES = ["locations", "activities", "sessions", "participants", "checkin_sources",
                 "checkins", "tallies", "messages", "session_logs", "erasures"]
# The fixtures' "Time to Dance" session. Commands name it by id: by name,
# turf-tablet picks today's session, which is another one on any other day.
DANCE_SESSION = "01a225ac-eb94-740f-b2f5-48313de0069a-2026-11-29"
CLOCKS = ("SELECT org, rtype, k, k2, field, hlc, device, seq, server_seq FROM field_clocks "
          "ORDER BY org, rtype, k, k2, field")


def load_fixture(name, path):
    con = sqlite3.connect(path)
    con.executescript(open(os.path.join(FIXTURES, name)).read())
    con.close()


def query(path, sql):
    con = sqlite3.connect(path)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def columns(path, table):
    return [r[1] for r in query(path, "PRAGMA table_info(%s)" % table)]


def snapshot(path):
    """Every record with the columns it had before the migration, and every
    field clock."""
    out = {}
    for table in RECORD_TABLES:
        cols = [c for c in columns(path, table) if "__" not in c]
        out[table] = sorted(query(path, "SELECT %s FROM %s" % (", ".join(cols), table)))
    out["field_clocks"] = query(path, CLOCKS)
    return out


def tablet(db, *args, check=True):
    p = subprocess.run([TABLET, "--db", db, *args], capture_output=True, text=True, timeout=60)
    if check and p.returncode != 0:
        raise AssertionError("turf-tablet %s: exit %d\n%s%s" % (" ".join(args), p.returncode,
                                                                 p.stdout, p.stderr))
    return p.stdout


async def main(tmp):
    server_db = os.path.join(tmp, "server.db")
    zaal, entree, fresh = (os.path.join(tmp, n) for n in ("zaal1.db", "entree.db", "fresh.db"))
    load_fixture("server-v3.sql", server_db)
    load_fixture("tablet-v2-zaal1.sql", zaal)
    load_fixture("tablet-v2-entree.sql", entree)
    assert query(server_db, "PRAGMA user_version") == [(3,)]
    assert query(zaal, "PRAGMA user_version") == [(2,)]
    before = {p: snapshot(p) for p in (server_db, zaal, entree)}
    assert len(before[server_db]["field_clocks"]) == 47
    assert len(before[zaal]["field_clocks"]) == 49
    # The merged walk-in: three check-in sources, two check-ins.
    assert len(before[server_db]["checkin_sources"]) == 3
    assert len(before[server_db]["checkins"]) == 2

    with open(os.path.join(tmp, "turfd.log"), "ab") as log:
        proc, url, code = start_turfd(tmp, log, "--demo")
        # The migration ran inside turfd's start: nothing was lost or changed.
        assert query(server_db, "PRAGMA user_version") == [(9,)]
        # Version 8: every organisation is in the default time zone.
        assert query(server_db, "SELECT DISTINCT tz FROM orgs") == [("Europe/Amsterdam",)]
        # Version 7: devices say nothing of their storage until their next hello.
        assert query(server_db, "SELECT DISTINCT storage, storage_used FROM devices") == [(0, 0)]
        # Version 6: every device has synced its scope as it is.
        assert query(server_db, "SELECT count(*) FROM devices "
                     "WHERE scope_gen <> 0 OR scope_synced <> 0") == [(0,)]
        # Version 5: who may see which participant comes from the log.
        assert query(server_db, "SELECT count(*) FROM participant_locations") == query(
            server_db, "SELECT count(DISTINCT k2 || ' ' || loc) FROM ops "
            "WHERE rtype = 5 AND loc <> ''")
        assert query(server_db, "SELECT count(*) FROM participant_creators") == query(
            server_db, "SELECT count(DISTINCT k) FROM ops WHERE rtype = 4")
        assert query(server_db, "SELECT type FROM sqlite_master WHERE name = 'field_clocks'") == \
            [("view",)]
        after = snapshot(server_db)
        for table, rows in before[server_db].items():
            if table == "sessions":  # --demo adds the sessions of a new day
                assert set(rows) <= set(after[table]), table
            elif table == "field_clocks":
                assert set(rows) <= set(after[table]), table
                assert all(r[1] == 3 for r in set(after[table]) - set(rows))
            else:
                assert rows == after[table], table

        # A tablet file is migrated when turf-tablet opens it: the outbox
        # (a check-in and a session-log note recorded offline) survives.
        assert tablet(zaal, "outbox").strip() == "2"
        assert query(zaal, "PRAGMA user_version") == [(3,)]
        migrated = snapshot(zaal)
        for table, rows in before[zaal].items():
            assert rows == migrated[table], table

        # Both tablets sync; the other tablet's later status change must win
        # over the migrated clock of the older one, and lose to nothing else.
        tablet(zaal, "sync", "--server", url)
        tablet(entree, "sync", "--server", url)
        tablet(entree, "status", DANCE_SESSION, "Anneke Bakker", "absent")
        tablet(entree, "sync", "--server", url)
        tablet(zaal, "sync", "--server", url)
        assert tablet(zaal, "outbox").strip() == "0"

        tablet(fresh, "enroll", "--server", url, "--code", code, "--name", "Nieuw")
        dumps = [tablet(db, "dump") for db in (zaal, entree, fresh)]
        assert dumps[0] == dumps[1] == dumps[2], "replicas differ after the migration"
        attendance = tablet(zaal, "attendance", DANCE_SESSION)
        assert "Anneke Bakker\tabsent" in attendance, attendance
        assert "Fatima el Amrani\tabsent" in attendance, attendance  # the last edit before
        assert "pauze om 11" in dumps[0]
        assert attendance.lower().count("nieuwe buurvrouw") == 1, attendance

        # The server's clocks are the tablets' clocks, field by field.
        server_clocks = set(r[1:] for r in query(server_db, CLOCKS) if r[1] != 6)
        for db in (zaal, entree, fresh):
            assert set(r[1:] for r in query(db, CLOCKS) if r[1] != 6) <= server_clocks, db

        proc.terminate()
        assert proc.wait(timeout=30) == 0


run_test(main, "turf-migrate-", 240)
