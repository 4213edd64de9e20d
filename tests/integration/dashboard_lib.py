"""Helpers for the dashboard's integration tests (test_dashboard_*.py).

A real turfd with the demo organisation on a free loopback port, its own
SQLite file in a temporary directory, real turf-tablet processes, and a
client of the dashboard's websocket feed (subprotocol turf.dashboard.v1,
JSON in binary frames) that logs in first, as the page does: POST
/auth/login (the demo coordinator's login and password come from the ready
file), then the session cookie on the upgrade. Waits are for conditions, with generous timeouts;
nothing is timed.
"""
import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse

import websockets

TURFD = os.environ["TURFD"]
TABLET = os.environ["TURF_TABLET"]
TURFCTL = os.environ["TURFCTL"]
WAIT_S = 30
PARTS = ("orgs", "today", "devices", "conflicts", "duplicates", "messages")
COORDINATOR_PARTS = ("exports",)  # not on a viewer's page
OWN_PARTS = ("day", "history", "people", "person")  # what one page asked for


class Server:
    def __init__(self, tmp, listen="127.0.0.1", wrap=(), flags=()):
        self.tmp = tmp
        self.db = os.path.join(tmp, "server.db")
        ready = os.path.join(tmp, "ready")
        self.log = open(os.path.join(tmp, "turfd.log"), "w")
        self.proc = subprocess.Popen(
            [*wrap, TURFD, "--listen", listen, "--port", "0", "--db", self.db, "--demo",
             "--demo-uses", "100", "--ready-file", ready, *flags],
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + WAIT_S
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise SystemExit("turfd exited during start")
            if time.monotonic() > deadline:
                raise SystemExit("turfd did not become ready")
            time.sleep(0.05)
        lines = dict(line.split(" ", 1) for line in open(ready).read().split("\n") if line)
        self.url, self.code, self.dashboard = lines["url"], lines["code"], lines["dashboard"]
        self.login, self.password = lines["login"], lines["password"]
        self.port = int(self.url.rsplit(":", 1)[1])
        self._cookie = None

    def log_in(self, login=None, password=None):
        """POSTs the login form; returns the "turf_session=..." cookie, or
        None with the status when refused (as (None, status))."""
        login = self.login if login is None else login
        password = self.password if password is None else password
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=WAIT_S)
        body = urllib.parse.urlencode({"login": login, "password": password})
        con.request("POST", "/auth/login", body, {
            "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        res = con.getresponse()
        res.read()
        set_cookie = res.getheader("Set-Cookie") or ""
        con.close()
        if res.status != 200:
            return None, res.status
        return set_cookie.split(";", 1)[0], res.status

    def cookie(self):
        """The demo coordinator's session cookie (logged in once)."""
        if self._cookie is None:
            self._cookie, status = self.log_in()
            assert self._cookie, f"the demo coordinator could not log in: {status}"
        return self._cookie

    def sql(self, query, *args):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=WAIT_S)
        self.log.close()
        if rc != 0:
            raise SystemExit(f"turfd exited with {rc} on SIGTERM")

    def tail(self):
        try:
            return "".join(open(os.path.join(self.tmp, "turfd.log")).readlines()[-40:])
        except OSError:
            return ""


class Tablet:
    """The real sample client, as a subprocess."""

    def __init__(self, server, name, wrap=()):
        self.db = os.path.join(server.tmp, name + ".db")
        self.wrap = list(wrap)
        self.run("enroll", "--server", server.url, "--code", server.code, "--name", name)

    def run(self, *args):
        out = subprocess.run([*self.wrap, TABLET, "--db", self.db, *args], capture_output=True,
                             text=True, timeout=WAIT_S * 2)
        if out.returncode != 0:
            raise SystemExit(f"turf-tablet {' '.join(args)} failed: {out.stderr}")
        return out.stdout

    def watch(self, seconds):
        return subprocess.Popen([*self.wrap, TABLET, "--db", self.db, "watch", "--for", str(seconds)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Feed:
    """A dashboard page without the page: keeps the latest of every part."""

    def __init__(self, ws):
        self.ws = ws
        self.parts = {}
        self.results = {}
        self.received = 0
        self.seen = []  # every message, in order
        self.req = 0

    @classmethod
    async def open(cls, server, cookie=None, **kw):
        """Connects as the coordinator whose session cookie is given (the
        demo coordinator by default)."""
        cookie = server.cookie() if cookie is None else cookie
        ws = await websockets.connect(f"ws://127.0.0.1:{server.port}/",
                                      subprotocols=["turf.dashboard.v1"],
                                      extra_headers={"Cookie": cookie}, **kw)
        feed = cls(ws)
        await feed.until(lambda f: all(p in f.parts for p in PARTS))
        return feed

    async def _read(self, timeout):
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        if not isinstance(raw, bytes):
            raise AssertionError("the feed must send binary frames")
        msg = json.loads(raw.decode("utf-8", "replace"))
        self.received += 1
        self.seen.append(msg)
        if msg["t"] in PARTS or msg["t"] in OWN_PARTS or msg["t"] in COORDINATOR_PARTS:
            self.parts[msg["t"]] = msg
        elif msg["t"] == "result":
            self.results[msg["req"]] = msg
        return msg

    async def until(self, cond, what="condition"):
        deadline = time.monotonic() + WAIT_S
        while not cond(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"feed: timed out waiting for {what}")
            try:
                await self._read(left)
            except asyncio.TimeoutError:
                raise AssertionError(f"feed: timed out waiting for {what}")

    def data(self, part):
        return self.parts[part]["data"]

    async def command(self, **cmd):
        self.req += 1
        req = self.req
        await self.ws.send(json.dumps({"req": req, **cmd}))
        await self.until(lambda f: req in f.results, f"result of {cmd}")
        return self.results[req]

    def session(self, prefix):
        for s in self.data("today")["sessions"]:
            if (s["activity_name"] or "").startswith(prefix):
                return s
        raise AssertionError(f"no session {prefix} today")


def turfctl(server, *args, stdin=None):
    """turfctl on the server's database (stdin: what it reads, such as a
    new password); its output, stripped."""
    out = subprocess.run([TURFCTL, "--db", server.db, *args], capture_output=True, text=True,
                         input=stdin, timeout=WAIT_S)
    assert out.returncode == 0, f"turfctl {' '.join(args)}: {out.stderr}"
    return out.stdout.strip()


def upgrade(port, host, origin=None, cookie=None, address="127.0.0.1"):
    """A raw websocket handshake for the dashboard to address:port (so the
    headers are exactly ours: Host is host); returns the status line."""
    sock = socket.create_connection((address, port), timeout=30)
    req = (f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: turf.dashboard.v1\r\n")
    if origin:
        req += f"Origin: {origin}\r\n"
    if cookie:
        req += f"Cookie: {cookie}\r\n"
    sock.sendall((req + "\r\n").encode())
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    sock.close()
    return data.split(b"\r\n", 1)[0].decode("latin-1")


def run(test):
    """Runs async test(server) against a fresh turfd; prints the log on failure."""
    tmp = tempfile.mkdtemp(prefix="turf-dash-")
    server = None
    ok = False
    try:
        server = Server(tmp)
        asyncio.run(test(server))
        server.stop()
        ok = True
    finally:
        if server and server.proc.poll() is None:
            server.proc.kill()
        if not ok and server:
            print("---- last lines of turfd.log ----\n" + server.tail())
        shutil.rmtree(tmp, ignore_errors=True)
