"""Coordinator logins cannot be guessed at speed, and one account cannot log
the others out.

- Per login name: 5 attempts, then one a minute; the refusal is 429 before
  any password is checked, also for the right password. A right password
  gives the name its attempts back.
- Per address: 20 attempts (any names), then one every 6 s.
- Each account holds at most 8 sessions: its own oldest goes, nobody
  else's, however often a viewer of another organisation logs in.

The address test connects from 127.0.0.2 (still loopback). Talks only to
127.0.0.0/8."""
import http.client
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from access_lib import Server, run  # noqa: E402


class Browser:
    def __init__(self, port, source="127.0.0.1"):
        self.port, self.source = port, source

    def request(self, method, path, body=None, cookie=None):
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                         source_address=(self.source, 0))
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if cookie:
            headers["Cookie"] = cookie
        con.request(method, path, body=body, headers=headers)
        res = con.getresponse()
        out = res.status, res.getheader("Set-Cookie"), res.read().decode()
        con.close()
        return out

    def login(self, name, password):
        """(status, cookie "name=value" or None)."""
        body = urllib.parse.urlencode({"login": name, "password": password})
        status, cookie, _ = self.request("POST", "/auth/login", body)
        return status, cookie.split(";")[0] if cookie else None

    def me(self, cookie):
        return self.request("GET", "/auth/me", cookie=cookie)[0]


async def main(tmp):
    server = Server(tmp)
    org2 = server.ctl("org", "create", "Buurtwerk Noord").strip()
    server.ctl("coordinator", "create", "--org", "1", "--login", "anna",
               stdin="wachtwoord van anna\n")
    server.ctl("coordinator", "create", "--org", "1", "--login", "bert",
               stdin="wachtwoord van bert\n")
    server.ctl("coordinator", "create", "--org", org2, "--login", "kijker", "--role", "viewer",
               stdin="wachtwoord van kijker\n")
    port = int(server.url.rsplit(":", 1)[1])
    local = Browser(port)

    # Per login name.
    status, anna = local.login("anna", "wachtwoord van anna")
    assert status == 200 and anna, status
    for i in range(5):
        assert local.login("bert", f"gok {i}")[0] == 401
    assert local.login("bert", "gok 6")[0] == 429
    assert local.login("bert", "wachtwoord van bert")[0] == 429, "the limit let a login through"
    print("ok - a login name gets 5 wrong passwords, then 429 (also for the right one)")
    status, _ = local.login("anna", "wachtwoord van anna")
    assert status == 200, "another name from the same address was refused"
    print("ok - meanwhile another login name from that address logs in")

    # Per address, from 127.0.0.2: 20 attempts of any names, then 429.
    other = Browser(port, "127.0.0.2")
    start = time.monotonic()
    answers = [other.login(f"naam{i}", "gok")[0] for i in range(20)]
    assert answers == [401] * 20, answers
    # One more every 6 s: on a slow machine the 20 (each a slow hash) take
    # long enough for some to come back; those may pass, the next may not.
    refilled = int((time.monotonic() - start) / 6) + 1
    statuses = []
    while len(statuses) <= refilled and (not statuses or statuses[-1] != 429):
        statuses.append(other.login("anna", "wachtwoord van anna")[0])
    assert statuses[-1] == 429, (statuses, refilled)
    assert local.login("anna", "wachtwoord van anna")[0] == 200, "127.0.0.1 paid for .2"
    print("ok - an address gets 20 attempts, then 429; other addresses go on")

    # Sessions: a viewer of another organisation logs in 12 times.
    viewer = Browser(port, "127.0.0.3")
    cookies = []
    for _ in range(12):
        status, cookie = viewer.login("kijker", "wachtwoord van kijker")
        assert status == 200, status
        cookies.append(cookie)
    assert local.me(anna) == 200, "another account's logins logged anna out"
    alive = [viewer.me(c) for c in cookies]
    assert alive == [401] * 4 + [200] * 8, alive
    print("ok - an account holds 8 sessions, its own oldest go, anna stays logged in")

    assert "too many attempts" in server.log_text()
    server.stop()


run(main)
