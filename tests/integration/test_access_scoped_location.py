"""A device enrolled for some locations of its organisation receives only
what belongs there — by pull and live, including what turfctl writes
while it is connected — and the participants once a check-in there names
them (test_access_scoped_participants.py), and may write only there
(OUT_OF_SCOPE otherwise). Its cursor still moves past
what it may not see, so it never pulls in circles.
"""
import subprocess
import uuid

from access_lib import (ACTIVITY, CHANGES, LIVE, LOCATION, OUT_OF_SCOPE, PARTICIPANT, SESSION,
                        TURFCTL, Device, Server, acked, checkin, participant, rejects, run)


async def next_live(device, timeout=5.0):
    while True:
        frame = await device.recv(timeout)
        if frame["t"] == LIVE:
            return frame


async def nothing_for_it(device, what):
    """The commit reaches the scoped device as a live frame without ops that
    moves its cursor on (from = its cursor)."""
    frame = await next_live(device)
    assert frame["ops"] == [] and frame["from"] == device.cursor, f"{what}: {frame}"
    assert frame["cur"] > device.cursor, f"{what}: {frame}"
    device.cursor = frame["cur"]


async def main(tmp):
    server = Server(tmp)
    loc1 = server.sql("select id from locations where org = 1")[0][0]
    loc2 = server.ctl("location", "create", "--org", "1", "Tweede Huis").strip()
    act2 = server.ctl("activity", "create", "--org", "1", "--location", loc2, "Breien").strip()
    ses2 = server.ctl("session", "create", "--org", "1", "--activity", act2, "--date",
                      "2030-02-01").strip()

    whole = Device(server)
    await whole.enrol(server.code)
    all_ops = await whole.pull_all()
    scoped = Device(server)
    await scoped.enrol(server.code_for(1, "--location", loc1))
    mine = await scoped.pull_all()
    keys = {op["k"] for op in mine}
    assert loc1 in keys and not keys & {loc2, act2, ses2}, mine
    # Nobody was checked in there yet: no participant either.
    assert {op["y"] for op in mine} == {LOCATION, ACTIVITY, SESSION}, mine
    assert len(mine) < len(all_ops) and scoped.cursor == whole.cursor, (scoped.cursor, whole.cursor)
    assert server.sql("select location from device_locations") == [(loc1,)]
    print(f"ok - pull: {len(mine)} of {len(all_ops)} ops, its location's")

    ses1 = next(op["k"] for op in mine if op["y"] == SESSION)
    person = next(op["k"] for op in all_ops if op["y"] == PARTICIPANT)

    # Live: another location's commit is not sent; its own location's is,
    # continuing from the cursor the device holds.
    ack = await whole.push(checkin(ses2, person))
    assert acked(ack) == {whole.seq}, ack
    await nothing_for_it(scoped, "a check-in at the other location")
    before = scoped.cursor
    ack = await whole.push(checkin(ses1, person))
    frame = await next_live(scoped)
    # The person comes along: their op right before the check-in.
    assert frame["from"] == before and [op["k"] for op in frame["ops"]] == [person, ses1], frame
    assert frame["ops"][0]["y"] == PARTICIPANT and frame["ops"][0]["n"] <= before, frame
    scoped.cursor = frame["cur"]
    print("ok - live: only its own location's check-in arrives, continuing from its cursor")

    # Two commits, the first of them in its location, that reach turfd's loop
    # in the wrong order (turfctl's before the notice, the push after) must
    # not make it skip the first: commit one by turfctl with the socket off,
    # so turfd does not know, then a push; the frame of the push continues
    # from a cursor it does not hold, and its pull brings both.
    hidden = subprocess.run([TURFCTL, "--db", server.db, "--admin-socket", "none", "session",
                             "create", "--org", "1", "--activity",
                             next(op["k"] for op in mine if op["y"] == ACTIVITY), "--date",
                             "2030-02-05"], capture_output=True, text=True, check=True)
    hidden_id = hidden.stdout.strip()
    ack = await whole.push(checkin(ses2, person))
    frame = await next_live(scoped)
    assert frame["from"] != scoped.cursor, f"a frame skipping turfctl's op: {frame}"
    await scoped.send({"t": 5, "cur": scoped.cursor, "lim": 100})
    while True:
        page = await scoped.recv()
        if page["t"] == CHANGES:
            break
    assert [op["k"] for op in page["ops"]] == [hidden_id], page
    assert page["more"] is False
    scoped.cursor = page["cur"]
    print("ok - an op it missed makes it pull instead of being skipped")

    # What turfctl writes goes out live the same way.
    server.ctl("session", "create", "--org", "1", "--activity", act2, "--date", "2030-02-02")
    await nothing_for_it(scoped, "turfctl's session at the other location")
    act1 = next(op["k"] for op in mine if op["y"] == ACTIVITY)
    new1 = server.ctl("session", "create", "--org", "1", "--activity", act1, "--date",
                      "2030-02-03").strip()
    frame = await next_live(scoped)
    assert frame["from"] == scoped.cursor and [op["k"] for op in frame["ops"]] == [new1], frame
    scoped.cursor = frame["cur"]
    print("ok - turfctl's writes reach it live, only for its location")

    # Writes outside its location are refused; inside and org-wide accepted.
    walkin = str(uuid.uuid4())
    cases = [
        ("check-in at the other location", checkin(ses2, person), OUT_OF_SCOPE),
        ("a new location", {"y": LOCATION, "k": str(uuid.uuid4()), "f": {1: "Eigen Huis"}},
         OUT_OF_SCOPE),
        ("moving the other location's session here",
         {"y": SESSION, "k": ses2, "f": {1: act1}}, OUT_OF_SCOPE),
        ("moving its own session away", {"y": SESSION, "k": ses1, "f": {1: act2}}, OUT_OF_SCOPE),
        ("a session of its own activity",
         {"y": SESSION, "k": str(uuid.uuid4()), "f": {1: act1, 2: "2030-02-04", 4: False}}, 0),
        ("a walk-in of its own", participant(walkin, "Nieuwe Gast"), 0),
        ("checking the walk-in in here", checkin(ses1, walkin), 0),
    ]
    for what, op, code in cases:
        ack = await scoped.push(op)
        if code:
            assert rejects(ack) == {scoped.seq: code}, f"{what}: {ack}"
        else:
            assert acked(ack) == {scoped.seq} and not rejects(ack), f"{what}: {ack}"
        print(f"ok - {what}: {'refused' if code else 'accepted'}")

    # A pull past ops it may not see ends at the head with more = false.
    ack = await whole.push(checkin(ses2, walkin))
    head = server.sql("select head from orgs where id = 1")[0][0]
    await scoped.send({"t": 5, "cur": head - 1, "lim": 10})
    while True:
        page = await scoped.recv()
        if page["t"] == CHANGES:
            break
    assert page["ops"] == [] and page["cur"] == head and page["more"] is False, page
    print("ok - its cursor moves past what it may not see")
    await whole.close()
    await scoped.close()
    server.stop()


if __name__ == "__main__":
    run(main)
