"""One device cannot fill the disk: it may push --max-device-ops-per-hour
ops an hour (as many at once), and all devices of an organisation together
--max-org-ops-per-hour. A push over the quota gets RATE_LIMITED
with the wait in words and the connection stays; nothing of it is stored
and its seqs are not consumed, so the device sends it again later.
Reconnecting does not reset the quota; other devices are not affected.
Talks only to 127.0.0.1."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from access_lib import (ACK, ERROR, LIVE, CHANGES, PUSH, RATE_LIMITED, TALLY, Device,  # noqa
                        Server, acked, now_ms, run)

QUOTA, ORG_QUOTA = 300, 500


def tallies(device, n, first_seq):
    return [{"s": first_seq + i, "h": now_ms() << 16, "y": TALLY, "k": device.session,
             "f": {1: i + 1}} for i in range(n)]


async def answer(device):
    while True:
        frame = await device.recv()
        if frame["t"] not in (LIVE, CHANGES):
            return frame


async def main(tmp):
    server = Server(tmp, "--max-device-ops-per-hour", str(QUOTA),
                    "--max-org-ops-per-hour", str(ORG_QUOTA))
    session = server.sql("select id from sessions limit 1")[0][0]
    greedy, other, third = Device(server), Device(server), Device(server)
    for d in (greedy, other, third):
        await d.enrol(server.code)
        d.session = session

    for i in range(3):
        await greedy.send({"t": PUSH, "ops": tallies(greedy, 100, 1 + 100 * i)})
        ack = await answer(greedy)
        assert ack["t"] == ACK and ack.get("a") == [[1 + 100 * i, 100 + 100 * i]], ack
    await greedy.send({"t": PUSH, "ops": tallies(greedy, 100, 301)})
    refusal = await answer(greedy)
    assert refusal["t"] == ERROR and refusal["c"] == RATE_LIMITED and not refusal.get("x"), refusal
    assert f"may push {QUOTA} ops an hour" in refusal["m"], refusal
    print(f"ok - {QUOTA} ops acked, the next push refused: {refusal['m']}")
    assert server.sql("select count(*) from ops where device = ?", greedy.device) == [(300,)]
    assert server.sql("select last_seq from devices where id = ?", greedy.device) == [(300,)]

    # A new connection of the same device: still over its quota.
    await greedy.close()
    await greedy.connect()
    assert (await greedy.hello())["t"] == 2
    await greedy.send({"t": PUSH, "ops": tallies(greedy, 1, 301)})
    refusal = await answer(greedy)
    assert refusal["t"] == ERROR and refusal["c"] == RATE_LIMITED, refusal
    print("ok - reconnecting does not reset the quota")

    # Another device of the same organisation pushes as usual.
    other.seq = 0
    ack = await other.push(*[{"y": TALLY, "k": session, "f": {1: 1}}])
    assert acked(ack) == {1}, ack
    print("ok - other devices push as usual")

    # The organisation has 199 of its 500 left: the third device's 150 go,
    # its next 100 do not.
    await third.send({"t": PUSH, "ops": tallies(third, 150, 1)})
    ack = await answer(third)
    assert ack["t"] == ACK and ack.get("a") == [[1, 150]], ack
    await third.send({"t": PUSH, "ops": tallies(third, 100, 151)})
    refusal = await answer(third)
    assert refusal["t"] == ERROR and refusal["c"] == RATE_LIMITED, refusal
    assert f"organisation may push {ORG_QUOTA} ops an hour" in refusal["m"], refusal
    print(f"ok - the organisation's {ORG_QUOTA} ops an hour: {refusal['m']}")
    assert "quota conn=" in server.log_text()
    server.stop()


run(main)
