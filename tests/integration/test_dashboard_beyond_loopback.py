"""With coordinator logins, the dashboard answers beyond loopback — to
logged-in coordinators only.

turfd listens on all addresses, and a test host in a network namespace of
our own, joined to this machine by a veth pair, talks to it over its
non-loopback address: tablets sync from there as usual and /healthz
answers; the dashboard's page sends it to the login form and its websocket
is refused until it logs in; after logging in from there (POST /auth/login)
the page answers and the websocket opens. Needs root for the namespace;
skipped (77) without it.
"""
import os
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import Server, Tablet  # noqa: E402

PROBE = r'''
import sys, urllib.parse, urllib.request, urllib.error
sys.path.insert(0, LIBDIR)
from dashboard_lib import upgrade
host, port, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cookie = sys.argv[4] if len(sys.argv) > 4 else ""
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None
opener = urllib.request.build_opener(NoRedirect)
if what == "upgrade":
    print(upgrade(port, "%s:%d" % (host, port), cookie=cookie, address=host) or "closed")
elif what == "login":
    body = urllib.parse.urlencode({"login": sys.argv[4], "password": sys.argv[5]}).encode()
    req = urllib.request.Request("http://%s:%d/auth/login" % (host, port), data=body,
                                 headers={"Accept": "application/json"})
    res = opener.open(req, timeout=30)
    print(res.headers["Set-Cookie"].split(";", 1)[0])
else:
    req = urllib.request.Request("http://%s:%d%s" % (host, port, what),
                                 headers={"Cookie": cookie} if cookie else {})
    try:
        print(opener.open(req, timeout=30).status)
    except urllib.error.HTTPError as e:
        print(e.code)
'''
# The probe runs in the namespace but imports the same helpers as the tests.
PROBE = PROBE.replace("LIBDIR", repr(os.path.dirname(os.path.abspath(__file__))))


def sh(*args, check=True):
    return subprocess.run(args, capture_output=True, text=True, check=check)


def main():
    if os.geteuid() != 0:
        print("skipped: a network namespace needs root")
        sys.exit(77)
    n = os.getpid() % 250 + 1
    ns, host_if, ns_if = f"turfdash{os.getpid()}", f"tdh{os.getpid() % 100000}", \
        f"tdn{os.getpid() % 100000}"
    host_ip, ns_ip = f"10.77.{n}.1", f"10.77.{n}.2"
    if sh("ip", "netns", "add", ns, check=False).returncode != 0:
        print("skipped: cannot create a network namespace here")
        sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="turf-dash-")
    server = None
    ok = False
    try:
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", host_ip + "/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", ns_ip + "/30", "dev", ns_if)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")

        server = Server(tmp, listen="0.0.0.0")
        port = server.port
        inside = ("ip", "netns", "exec", ns)

        def probe(*what):
            return sh(*inside, "/usr/bin/python3", "-c", PROBE, host_ip, str(port),
                      *what).stdout.strip()

        for path in ("/", "/dashboard/"):
            assert probe(path) == "303", (path, probe(path))
        assert probe("/login") == "200"
        assert probe("/dashboard/app.js") == "200"
        assert probe("/healthz") == "200"
        assert not probe("upgrade").startswith("HTTP/1.1 101"), probe("upgrade")

        # A coordinator logs in from there and gets the dashboard.
        cookie = probe("login", server.login, server.password)
        assert cookie.startswith("turf_session="), cookie
        assert probe("/", cookie) == "200"
        assert probe("upgrade", cookie).startswith("HTTP/1.1 101"), probe("upgrade", cookie)

        # Tablets on that network are served as ever.
        server.url = f"ws://{host_ip}:{port}"
        remote = Tablet(server, "Remote", wrap=inside)
        remote.run("checkin", "dance", "Fatima el Amrani")
        assert "pushed 1 acked 1" in remote.run("sync")

        server.stop()
        ok = True
    finally:
        if server and server.proc.poll() is None:
            server.proc.kill()
        if not ok and server:
            print("---- last lines of turfd.log ----\n" + server.tail())
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", host_if, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


main()
print("ok")
