"""A tablet limited to one location holds only the participants who were
checked in there (or whom it created): a person who only came to another
location never reaches it, not even their name. Once another tablet checks
that person in at a session of its location, it gets them — their earlier
ops right before the check-in (backfill, n <= the frame's from) — by pull
(the C sample client, whose dump then shows the name) and live (a raw
client).
"""
import os
import subprocess
import uuid

from access_lib import (LIVE, PARTICIPANT, SESSION, TABLET, Device, Server, acked, checkin,
                        participant, run)

NAME = "Ayla Demir"


def tablet(tmp, *args):
    out = subprocess.run([TABLET, "--db", os.path.join(tmp, "scoped.db"), *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (args, out.stdout, out.stderr)
    return out.stdout


async def next_live(device, timeout=5.0):
    while True:
        frame = await device.recv(timeout)
        if frame["t"] == LIVE:
            return frame


async def main(tmp):
    server = Server(tmp)
    loc1 = server.sql("select id from locations where org = 1")[0][0]
    loc2 = server.ctl("location", "create", "--org", "1", "Tweede Huis").strip()
    act2 = server.ctl("activity", "create", "--org", "1", "--location", loc2, "Breien").strip()
    ses2 = server.ctl("session", "create", "--org", "1", "--activity", act2, "--date",
                      "2030-02-01").strip()
    scoped_code = server.code_for(1, "--location", loc1, "--uses", "2")

    whole = Device(server)
    await whole.enrol(server.code)
    all_ops = await whole.pull_all()
    ses1 = next(op["k"] for op in all_ops if op["y"] == SESSION and op["k"] != ses2)

    # Someone who only came to the other location.
    person = str(uuid.uuid4())
    ack = await whole.push(participant(person, NAME), checkin(ses2, person))
    assert acked(ack) == {1, 2}, ack

    tablet(tmp, "enroll", "--server", server.url, "--code", scoped_code, "--name", "Zaal 1")
    tablet(tmp, "sync")
    dump = tablet(tmp, "dump")
    assert NAME not in dump and person not in dump, dump
    live = Device(server)
    await live.enrol(scoped_code)
    mine = await live.pull_all()
    assert person not in {op["k"] for op in mine} | {op.get("k2") for op in mine}, mine
    print("ok - a person who only came to another location is not on the tablet")

    # Checked in here by the other tablet: the live frame brings them right
    # before the check-in, with their own (older) n.
    before = live.cursor
    ack = await whole.push(checkin(ses1, person))
    assert acked(ack) == {3}, ack
    frame = await next_live(live)
    assert frame["from"] == before, frame
    assert [(op["y"], op["k"]) for op in frame["ops"]] == [(PARTICIPANT, person),
                                                           (SESSION + 2, ses1)], frame
    assert frame["ops"][0]["f"][1] == NAME and frame["ops"][0]["n"] <= frame["from"], frame
    assert frame["ops"][0]["d"] == whole.device and frame["ops"][0]["s"] == 1, frame
    assert frame["cur"] == frame["ops"][1]["n"], frame
    print("ok - live: their op (n <= from) comes right before the check-in")

    tablet(tmp, "sync")
    dump = tablet(tmp, "dump")
    assert NAME in dump, dump
    assert f"{ses2}\t{person}" not in dump, dump  # not the other location's check-in
    print("ok - pull: the C tablet applies the backfilled op and shows the name")

    # A later rename reaches both in its own place.
    ack = await whole.push(participant(person, NAME + " B."))
    frame = await next_live(live)
    assert [op["k"] for op in frame["ops"]] == [person], frame
    tablet(tmp, "sync")
    assert NAME + " B." in tablet(tmp, "dump")
    print("ok - later changes of the person arrive like any other op")

    await whole.close()
    await live.close()
    server.stop()


if __name__ == "__main__":
    run(main)
