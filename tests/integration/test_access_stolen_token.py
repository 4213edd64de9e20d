"""A token taken from a tablet of one organisation is useless to a device
of another: with its own device id it is a wrong token; enrolling the
stolen device id with its own organisation's code does not move that
device; and once the owner revokes the tablet, the token opens nothing.
"""
from access_lib import (BAD_CREDENTIALS, ERROR, WELCOME, Device, Server, checkin, rejects,
                        run, texts, OUT_OF_SCOPE, SESSION, PARTICIPANT)


REVOKED = 12


async def expect_refused(device, what, error=BAD_CREDENTIALS, **hello):
    await device.connect()
    answer = await device.hello(**hello)
    assert answer["t"] == ERROR and answer["c"] == error, f"{what}: {answer}"
    assert answer.get("x"), f"{what}: connection should close"
    await device.expect_closed()
    print(f"ok - {what}: error {error} and closed")


async def main(tmp):
    server = Server(tmp)
    org2 = int(server.ctl("org", "create", "Andere Stichting").strip())
    victim = Device(server)  # organisation 1
    await victim.enrol(server.code)
    ops1 = await victim.pull_all()
    stolen = victim.token
    thief = Device(server)  # organisation 2
    await thief.enrol(server.code_for(org2))
    own_token = thief.token

    await expect_refused(Device(server, thief.device), "organisation 2's device with the stolen token",
                         token=stolen)
    await expect_refused(Device(server), "a fresh device id with the stolen token", token=stolen)
    await expect_refused(Device(server, victim.device),
                         "the victim's device id enrolled with organisation 2's code",
                         code=server.code_for(org2))
    assert server.sql("select org from devices where id = ?", victim.device) == [(1,)]
    await expect_refused(Device(server, victim.device), "the victim's device id with the thief's token",
                         token=own_token)

    # The thief's own session cannot reach organisation 1 either.
    await thief.connect()
    assert (await thief.hello())["t"] == WELCOME
    session1 = next(op["k"] for op in ops1 if op["y"] == SESSION)
    person1 = next(op["k"] for op in ops1 if op["y"] == PARTICIPANT)
    ack = await thief.push(checkin(session1, person1))
    assert rejects(ack) == {thief.seq: OUT_OF_SCOPE}, ack
    leaked = texts(await thief.pull_all()) & (texts(ops1) - {""})
    assert not leaked, leaked
    print("ok - the thief's own session sees and changes nothing of organisation 1")

    # With the victim's own device id the token works (it is the victim)...
    await victim.close()
    impostor = Device(server, victim.device)
    await impostor.connect()
    assert (await impostor.hello(token=stolen))["t"] == WELCOME
    await impostor.close()
    # ...until organisation 1's administrator revokes the tablet.
    out = server.ctl("device", "revoke", victim.device)
    assert f"revoked {victim.device}" in out, out
    # A revoked device id is told so (and erases what it holds), whatever
    # token comes with it.
    await expect_refused(Device(server, victim.device), "the stolen token after revocation",
                         error=REVOKED, token=stolen)
    server.stop()


if __name__ == "__main__":
    run(main)
