"""turfd_proc — starting the real turfd from Python integration tests (and
the real turf-tablet next to it), and running a test so that every turfd it
started ends with it, pass or fail."""
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TURFD = os.environ["TURFD"]
TABLET = os.environ.get("TURF_TABLET")
_started = []


def start_turfd(tmp, log, *flags, port=0):
    """Starts turfd on 127.0.0.1 with the database tmp/server.db and extra
    flags; waits for its ready file. Returns (proc, url, code or None)."""
    ready = os.path.join(tmp, "ready")
    if os.path.exists(ready):
        os.unlink(ready)
    proc = subprocess.Popen(
        [TURFD, "--listen", "127.0.0.1", "--port", str(port),
         "--db", os.path.join(tmp, "server.db"), "--ready-file", ready, *flags],
        stdout=log, stderr=log)
    _started.append(proc)
    for _ in range(200):
        if os.path.exists(ready):
            break
        assert proc.poll() is None, "turfd exited during start"
        time.sleep(0.05)
    lines = dict(line.split(" ", 1) for line in open(ready).read().split("\n") if line)
    return proc, lines["url"], lines.get("code")


class Server:
    """turfd on the demo organisation with database tmp/server.db and extra
    flags; log in tmp/turfd.log."""

    def __init__(self, tmp, *flags):
        self.tmp = tmp
        self.db = os.path.join(tmp, "server.db")
        self.log = open(os.path.join(tmp, "turfd.log"), "w")
        self.proc, self.url, self.code = start_turfd(
            tmp, self.log, "--demo", "--demo-uses", "100", *flags)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns turfd's exit status."""
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=15)
        self.log.close()
        return rc


class Tablet:
    """The real sample client, as a subprocess, enrolled into server."""

    def __init__(self, tmp, name, server):
        self.db = os.path.join(tmp, name + ".db")
        self.run("enroll", "--server", server.url, "--code", server.code, "--name", name)

    def run(self, *args):
        out = subprocess.run([TABLET, "--db", self.db, *args], capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0:
            raise AssertionError(f"turf-tablet {args} failed: {out.stderr}")
        return out.stdout


def run_test(main, prefix, timeout_s):
    """Runs the coroutine main(tmp) in a fresh temporary directory; on failure
    prints the end of tmp/turfd.log; always kills what start_turfd started and
    removes the directory."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        asyncio.run(asyncio.wait_for(main(tmp), timeout_s))
    except BaseException:
        log = os.path.join(tmp, "turfd.log")
        if os.path.exists(log):
            sys.stderr.write(open(log).read()[-4000:])
        raise
    finally:
        for proc in _started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
