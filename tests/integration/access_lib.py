"""Helpers for the access-control tests (test_access_*.py): a real turfd on
127.0.0.1 with its own database in a temporary directory, turfctl on that
database, and a raw turf.v1 client over websockets (msgpack frames) that
can do what a hostile or confused device would. Talks only to 127.0.0.1.
"""
import asyncio
import os
import signal
import sqlite3
import subprocess
import time
import uuid

import msgpack
import websockets

TURFD = os.environ["TURFD"]
TURFCTL = os.environ["TURFCTL"]
TABLET = os.environ["TURF_TABLET"]

HELLO, WELCOME, PUSH, ACK, PULL, CHANGES, LIVE, ERROR, PING, PONG = range(1, 11)
TOO_LARGE, BAD_CREDENTIALS, RATE_LIMITED = 2, 7, 9
INVALID_OP, OUT_OF_SCOPE, ERASED = 20, 23, 24
LOCATION, ACTIVITY, SESSION, PARTICIPANT, CHECKIN, TALLY, MESSAGE, SESSION_LOG, ERASURE = \
    range(1, 10)


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def unpack(data):
    return msgpack.unpackb(data, strict_map_key=False, raw=False)


def now_ms():
    return int(time.time() * 1000)


_servers = []


class Server:
    """turfd with the demo organisation (id 1) and extra flags."""

    def __init__(self, tmp, *flags):
        _servers.append(self)
        self.tmp = tmp
        self.db = os.path.join(tmp, "server.db")
        self.logpath = os.path.join(tmp, "turfd.log")
        self.flags = flags
        self.start()

    def start(self):
        ready = os.path.join(self.tmp, "ready")
        if os.path.exists(ready):
            os.unlink(ready)
        self.log = open(self.logpath, "a")
        self.proc = subprocess.Popen(
            [TURFD, "--listen", "127.0.0.1", "--port", "0", "--db", self.db, "--demo",
             "--demo-uses", "100", "--ready-file", ready, *self.flags],
            stdout=self.log, stderr=self.log)
        for _ in range(200):
            if os.path.exists(ready):
                break
            if self.proc.poll() is not None:
                raise SystemExit("turfd exited during start")
            time.sleep(0.05)
        lines = dict(line.split(" ", 1) for line in open(ready).read().split("\n") if line)
        self.url, self.code = lines["url"], lines["code"]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=15)
        self.log.close()
        assert rc == 0, f"turfd exited {rc}"

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def ctl(self, *args, stdin=None):
        """Runs turfctl on this server's database; returns stdout."""
        out = subprocess.run([TURFCTL, "--db", self.db, *args], capture_output=True, text=True,
                             input=stdin, timeout=60)
        if out.returncode != 0:
            raise AssertionError(f"turfctl {args} failed: {out.stderr}")
        return out.stdout

    def code_for(self, org, *args):
        out = self.ctl("enroll", "--org", str(org), "--no-qr", *args)
        return next(line.split()[1] for line in out.split("\n") if line.startswith("code "))

    def sql(self, query, *params):
        db = sqlite3.connect(self.db, timeout=10)
        try:
            return db.execute(query, params).fetchall()
        finally:
            db.close()

    def log_text(self):
        return open(self.logpath).read()


class Device:
    """A raw turf.v1 client: one websocket, frames as dicts."""

    def __init__(self, server, device=None):
        self.server = server
        self.device = device or str(uuid.uuid4())
        self.token = None
        self.seq = 0
        self.cursor = 0
        self.ws = None

    async def connect(self):
        self.ws = await websockets.connect(self.server.url, subprotocols=["turf.v1"],
                                           max_size=None, ping_interval=None)
        return self

    async def send(self, frame):
        await self.ws.send(pack(frame))

    async def recv(self, timeout=5.0):
        data = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(data, bytes), "server frames are binary"
        return unpack(data)

    async def hello(self, code=None, token=None, device=None):
        """Says hello; returns the answer frame (welcome or error)."""
        frame = {"t": HELLO, "v": 1, "app": "access-test/1", "dev": device or self.device,
                 "now": now_ms()}
        if token or self.token:
            frame["tok"] = token or self.token
        elif code:
            frame["code"] = code
        await self.send(frame)
        answer = await self.recv()
        if answer["t"] == WELCOME and answer.get("tok"):
            self.token = answer["tok"]
        return answer

    async def enrol(self, code):
        await self.connect()
        welcome = await self.hello(code=code)
        assert welcome["t"] == WELCOME, welcome
        return welcome

    async def push(self, *ops):
        """Pushes ops (seqs given here); returns the ack."""
        batch = []
        for op in ops:
            self.seq += 1
            batch.append({"s": self.seq, "h": now_ms() << 16, "b": self.cursor, **op})
        await self.send({"t": PUSH, "ops": batch})
        while True:
            frame = await self.recv()
            if frame["t"] in (LIVE, CHANGES):
                continue  # ours or others' commits; not what we wait for
            assert frame["t"] == ACK, frame
            return frame

    async def pull_all(self):
        """Pulls from cursor 0 to the head; returns every op and goes live."""
        ops, cur = [], 0
        while True:
            await self.send({"t": PULL, "cur": cur, "lim": 1000})
            page = await self.recv()
            assert page["t"] == CHANGES, page
            assert page["from"] == cur, page
            ops.extend(page["ops"])
            cur = page["cur"]
            if not page["more"]:
                self.cursor = cur
                return ops

    async def expect_closed(self, timeout=5.0):
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except websockets.ConnectionClosed:
            return
        raise AssertionError("connection still open")

    async def close(self):
        if self.ws is not None:
            await self.ws.close()


def rejects(ack):
    """{seq: code} of an ack's rejections."""
    return {r["s"]: r["c"] for r in ack.get("r", [])}


def acked(ack):
    return {s for a, b in ack.get("a", []) for s in range(a, b + 1)}


def checkin(session, person):
    return {"y": CHECKIN, "k": session, "k2": person, "f": {1: "present", 2: now_ms()}}


def participant(pid, name):
    return {"y": PARTICIPANT, "k": pid, "f": {1: name, 5: now_ms()}}


def texts(ops):
    """Every string value in ops' fields, keys and device ids."""
    out = set()
    for op in ops:
        out.update([op.get("k", ""), op.get("k2", ""), op.get("d", "")])
        out.update(v for v in op.get("f", {}).values() if isinstance(v, str))
    return out


def run(main):
    """Runs async main(tmp) in a fresh temporary directory, removed after."""
    import shutil
    import tempfile
    tmp = tempfile.mkdtemp(prefix="turf-access-")
    try:
        asyncio.run(main(tmp))
    except BaseException:
        for server in _servers:
            try:
                print("---- turfd.log ----\n" + server.log_text()[-4000:])
            except OSError:
                pass
        raise
    finally:
        for server in _servers:
            server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
