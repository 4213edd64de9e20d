"""One turfd, two organisations: a device of the second neither receives
anything of the first (pull or live) nor changes it. Every op that names a
record of the first organisation — as its key, its participant, or the
activity or location it points to — is refused with OUT_OF_SCOPE and not
acted on; an erasure op from a device is refused too (administrators only).
"""
import asyncio
import uuid

from access_lib import (ACTIVITY, ERASURE, MESSAGE, OUT_OF_SCOPE, PARTICIPANT, SESSION, TALLY,
                        Device, Server, acked, checkin, now_ms, participant, rejects, run,
                        texts)


async def main(tmp):
    server = Server(tmp)
    org2 = int(server.ctl("org", "create", "Stichting Tweede").strip())
    loc2 = server.ctl("location", "create", "--org", str(org2), "Buurthuis Twee").strip()
    act2 = server.ctl("activity", "create", "--org", str(org2), "--location", loc2,
                      "Schilderen").strip()
    ses2 = server.ctl("session", "create", "--org", str(org2), "--activity", act2, "--date",
                      "2030-01-15").strip()

    a = Device(server)  # organisation 1, the demo
    await a.enrol(server.code)
    ops1 = await a.pull_all()
    sessions1 = [op["k"] for op in ops1 if op["y"] == SESSION]
    people1 = {op["k"]: op["f"][1] for op in ops1 if op["y"] == PARTICIPANT}
    activity1 = next(op["k"] for op in ops1 if op["y"] == ACTIVITY)
    assert sessions1 and people1, ops1
    head1 = server.sql("select head from orgs where id = 1")

    b = Device(server)  # organisation 2
    welcome = await b.enrol(server.code_for(org2))
    assert welcome["org"] == "Stichting Tweede", welcome
    ops2 = await b.pull_all()
    assert {op["k"] for op in ops2} >= {loc2, act2, ses2}, ops2
    leaked = texts(ops2) & (texts(ops1) - {""})
    assert not leaked, f"organisation 2 received organisation 1's data: {leaked}"
    print(f"ok - pull: organisation 2 sees its {len(ops2)} ops and none of organisation 1's")

    p1, name1 = next(iter(people1.items()))
    mine = str(uuid.uuid4())
    cases = [
        ("check-in to another organisation's session and person", checkin(sessions1[0], p1)),
        ("rename another organisation's participant", participant(p1, "Overgenomen Naam")),
        ("check in another organisation's participant here", checkin(ses2, p1)),
        ("session of another organisation's activity",
         {"y": SESSION, "k": str(uuid.uuid4()), "f": {1: activity1, 2: "2030-01-16", 4: False}}),
        ("message in another organisation's activity",
         {"y": MESSAGE, "k": str(uuid.uuid4()), "f": {1: activity1, 2: "hallo"}}),
        ("tally on another organisation's session", {"y": TALLY, "k": sessions1[0], "f": {1: 5}}),
        ("a session under another organisation's session id",
         {"y": SESSION, "k": sessions1[0], "f": {1: act2, 2: "2030-01-17", 4: False}}),
    ]
    for what, op in cases:
        ack = await b.push(op)
        assert rejects(ack) == {b.seq: OUT_OF_SCOPE}, f"{what}: {ack}"
        reason = ack["r"][0].get("m", "")
        assert "scope" in reason, f"{what}: reason {reason!r}"
        print(f"ok - {what}: OUT_OF_SCOPE")

    # What is its own is accepted, and an erasure is an administrator's.
    ack = await b.push(participant(mine, "Eigen Deelnemer"), checkin(ses2, mine))
    assert acked(ack) == {b.seq - 1, b.seq} and not rejects(ack), ack
    ack = await b.push({"y": ERASURE, "k": mine, "f": {1: now_ms()}})
    assert rejects(ack) == {b.seq: OUT_OF_SCOPE}, f"device erasure: {ack}"
    print("ok - own records accepted; a device's erasure refused")

    # Nothing of organisation 1 changed, nothing of it was copied into 2,
    # and the connected device of organisation 1 received nothing.
    assert server.sql("select name from participants where org = 1 and id = ?", p1) == \
        [(name1,)]
    ids1 = list(people1) + sessions1 + [activity1]
    marks = ",".join("?" * len(ids1))
    for table, column in (("participants", "id"), ("sessions", "id"), ("checkins", "session"),
                          ("tallies", "session"), ("activities", "id")):
        rows = server.sql(f"select count(*) from {table} where org = 2 and {column} in ({marks})",
                          *ids1)
        assert rows == [(0,)], f"{table} of organisation 2 holds organisation 1's ids"
    assert server.sql("select head from orgs where id = 1") == head1
    assert server.sql("select count(*) from rejected_ops where org = ? and code = ?", org2,
                      OUT_OF_SCOPE) == [(len(cases) + 1,)]
    try:
        frame = await a.recv(timeout=1.0)
        raise AssertionError(f"organisation 1's device received {frame}")
    except asyncio.TimeoutError:
        pass
    print("ok - organisation 1 untouched; its live device heard nothing")
    await a.close()
    await b.close()
    server.stop()


if __name__ == "__main__":
    run(main)
