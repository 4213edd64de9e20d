"""`turfctl device scope` changes a tablet's locations, and the tablet
follows: a connection it holds is told RESCOPED (x = true, close 1008);
every welcome then says "rs" — again after a welcome lost on the way —
until it has pulled from 0; the C sample tablet drops its replica, keeps
its outbox, and pulls its new scope from scratch. Narrowed to location A,
it no longer holds a person seen only at location B, nor B's sessions,
while a check-in it recorded offline is kept, pushed and acked. Widened
back to A and B (a `turf-tablet watch` told live), they come back.
"""
import asyncio
import os
import signal
import sqlite3
import subprocess
import uuid

import websockets

from access_lib import (CHANGES, ERROR, PARTICIPANT, PULL, SESSION, TABLET, TURFCTL, WELCOME,
                        Device, Server, acked, checkin, participant, run)

NAME = "Ayla Demir"
RESCOPED = 13


def tablet(tmp, *args):
    out = subprocess.run([TABLET, "--db", os.path.join(tmp, "tab.db"), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


def meta(tmp, key):
    db = sqlite3.connect(os.path.join(tmp, "tab.db"), timeout=10)
    try:
        row = db.execute("select v from meta where k = ?", (key,)).fetchone()
        return row[0] if row else None
    finally:
        db.close()


def ctl(server, *args, ok=True):
    out = subprocess.run([TURFCTL, "--db", server.db, *args], capture_output=True, text=True,
                         timeout=60)
    assert (out.returncode == 0) == ok, (args, out.returncode, out.stdout, out.stderr)
    return out


async def as_tablet(server, tmp):
    """A raw connection with the C tablet's own identity; returns (device, welcome)."""
    dev = Device(server, meta(tmp, "device"))
    dev.token = meta(tmp, "token")
    await dev.connect()
    welcome = await dev.hello()
    assert welcome["t"] == WELCOME, welcome
    return dev, welcome


async def wait_for(predicate, what, timeout=20.0):
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def main(tmp):
    server = Server(tmp)
    loc_a, name_a = server.sql("select id, name from locations where org = 1")[0]
    loc_b = server.ctl("location", "create", "--org", "1", "Tweede Huis").strip()
    act_b = server.ctl("activity", "create", "--org", "1", "--location", loc_b, "Breien").strip()
    ses_b = server.ctl("session", "create", "--org", "1", "--activity", act_b, "--date",
                       "2030-02-01").strip()

    whole = Device(server)
    await whole.enrol(server.code)
    ops = await whole.pull_all()
    ses_a = next(op["k"] for op in ops if op["y"] == SESSION and op["k"] != ses_b)
    regular = next(op["k"] for op in ops if op["y"] == PARTICIPANT)
    # Someone who only came to location B.
    person = str(uuid.uuid4())
    ack = await whole.push(participant(person, NAME), checkin(ses_b, person))
    assert acked(ack) == {1, 2}, ack

    # The tablet sees the whole organisation, B's person and session too.
    tablet(tmp, "enroll", "--server", server.url, "--code", server.code, "--name", "Zaal 1")
    tablet(tmp, "sync")
    dump = tablet(tmp, "dump")
    assert NAME in dump and ses_b in dump, dump
    device = meta(tmp, "device")

    # Offline: a check-in at A waits in the outbox.
    tablet(tmp, "checkin", ses_a, regular)
    assert server.sql("select count(*) from ops where device = ?", device)[0][0] == 0

    # Its identity is connected (a raw client with its token): no "rs" yet.
    live, welcome = await as_tablet(server, tmp)
    assert "rs" not in welcome, welcome

    # The checks at the boundary.
    out = ctl(server, "device", "scope", "no-such-device", "--location", loc_a, ok=False)
    assert "no device no-such-device" in out.stderr, out.stderr
    out = ctl(server, "device", "scope", device, "--location", "Nowhere", ok=False)
    assert "no location \"Nowhere\"" in out.stderr, out.stderr
    gen = server.sql("select scope_gen from devices where id = ?", device)[0][0]
    assert gen == 0, gen
    out = ctl(server, "device", "scope", device)
    assert "the whole organisation" in out.stdout and "unchanged" in out.stdout, out.stdout
    print("ok - unknown devices and locations are refused; an unchanged scope changes nothing")

    # Narrowed to A (by name): the live connection is told at once.
    out = ctl(server, "device", "scope", device, "--location", name_a)
    assert f"location {loc_a}" in out.stdout, out.stdout
    assert "turfd cut 1 live connection" in out.stdout, out.stdout
    frame = await live.recv()
    assert frame["t"] == ERROR and frame["c"] == RESCOPED and frame.get("x") is True, frame
    try:
        await live.recv()
        raise AssertionError("still open after RESCOPED")
    except websockets.ConnectionClosed as e:
        assert e.rcvd is not None and e.rcvd.code == 1008, e
    assert server.sql("select scope_gen from devices where id = ?", device)[0][0] == 1
    print("ok - the connected tablet is told RESCOPED (x = true) and closed with 1008")

    # Every welcome says "rs", also after one was lost (dropped unanswered).
    for attempt in range(2):
        dev, welcome = await as_tablet(server, tmp)
        assert welcome.get("rs") is True, (attempt, welcome)
        await dev.close()
    # A pull from elsewhere than 0 does not count as having started over.
    dev, welcome = await as_tablet(server, tmp)
    assert welcome.get("rs") is True, welcome
    await dev.send({"t": PULL, "cur": 1, "lim": 10})
    assert (await dev.recv())["t"] == CHANGES
    await dev.close()
    dev, welcome = await as_tablet(server, tmp)
    assert welcome.get("rs") is True, welcome
    await dev.close()
    print("ok - a lost welcome with rs is followed by another")

    # The C tablet starts over: B is gone, its offline check-in is kept,
    # pushed and acked.
    out = subprocess.run([TABLET, "--db", os.path.join(tmp, "tab.db"), "sync"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "syncing again from scratch" in out.stderr, out.stderr
    dump = tablet(tmp, "dump")
    assert NAME not in dump and person not in dump, dump
    assert ses_b not in dump, dump
    assert ses_a in dump and f"{ses_a}\t{regular}" in dump, dump
    assert meta(tmp, "token") and meta(tmp, "device") == device
    assert server.sql("select count(*) from ops where device = ? and rtype = 5", device)[0][0] == 1
    db = sqlite3.connect(os.path.join(tmp, "tab.db"))
    assert db.execute("select count(*) from outbox").fetchone()[0] == 0
    db.close()
    print("ok - narrowed: the person and sessions of B are gone; the offline check-in is acked")

    # Once it pulled from 0, no more "rs".
    dev, welcome = await as_tablet(server, tmp)
    assert "rs" not in welcome, welcome
    await dev.close()
    synced = server.sql("select scope_gen, scope_synced from devices where id = ?", device)[0]
    assert synced == (1, 1), synced

    # Widened to A and B while `watch` runs: it reconnects and gets B back.
    hellos = server.log_text().count(f"device={device} org=")
    watch = subprocess.Popen([TABLET, "--db", os.path.join(tmp, "tab.db"), "watch", "--for",
                              "60"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    await wait_for(lambda: server.log_text().count(f"device={device} org=") > hellos,
                   "the watch to be welcomed")
    out = ctl(server, "device", "scope", device, "--location", loc_a, "--location", loc_b)
    assert "turfd cut 1 live connection" in out.stdout, out.stdout
    await wait_for(lambda: server.sql("select scope_synced from devices where id = ?",
                                      device)[0][0] == 2, "the watch to pull from 0")
    await wait_for(lambda: NAME in tablet(tmp, "dump"), "B's person on the tablet")
    dump = tablet(tmp, "dump")
    assert ses_b in dump and f"{ses_a}\t{regular}" in dump, dump
    watch.send_signal(signal.SIGTERM)
    _, err = watch.communicate(timeout=15)
    assert watch.returncode == 0, err
    assert "locations were changed" in err and "syncing again from scratch" in err, err
    print("ok - widened: a watching tablet is told, reconnects, and gets B back")

    # Without turfd's admin socket the change waits for the next hello.
    out = ctl(server, "--admin-socket", "none", "device", "scope", device, "--location", loc_a)
    assert "next connection" in out.stdout, out.stdout
    dev, welcome = await as_tablet(server, tmp)
    assert welcome.get("rs") is True, welcome
    await dev.close()
    print("ok - without the admin socket the tablet learns at its next hello")

    # A revoked device keeps no scope to change.
    ctl(server, "device", "revoke", device)
    out = ctl(server, "device", "scope", device, ok=False)
    assert "revoked" in out.stderr, out.stderr

    await whole.close()
    server.stop()


if __name__ == "__main__":
    run(main)
