"""Which pages may open the dashboard's websocket with a coordinator's
cookie: the page's own origin over the connection's own scheme (no https
origin on plain http), reached by an address or localhost; a host name only
when it is --public-url's (any web site can point a name of its own at
this machine and have the browser send its requests there: DNS
rebinding). Talks only to 127.0.0.1."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import Server, upgrade  # noqa: E402


def opens(server, host, origin):
    return upgrade(server.port, host, origin, cookie=server.cookie()).startswith("HTTP/1.1 101")


def main():
    tmp = tempfile.mkdtemp(prefix="turf-origin-")
    servers = []
    try:
        for name in ("plain", "proxied"):
            os.makedirs(os.path.join(tmp, name))
        plain = Server(os.path.join(tmp, "plain"))
        servers.append(plain)
        here = f"127.0.0.1:{plain.port}"
        assert opens(plain, here, f"http://{here}")
        assert opens(plain, f"localhost:{plain.port}", f"http://localhost:{plain.port}")
        assert opens(plain, here, None), "a client that is no browser sends no Origin"
        assert not opens(plain, here, f"https://{here}"), "an https origin over plain http"
        assert not opens(plain, "evil.example", "http://evil.example"), "DNS rebinding"
        assert not opens(plain, here, "http://evil.example")
        print("ok - without --public-url: own origin by address only, scheme of the connection")

        proxied = Server(os.path.join(tmp, "proxied"),
                         flags=("--public-url", "https://turf.example.org/tablet/"))
        servers.append(proxied)
        assert opens(proxied, "turf.example.org", "https://turf.example.org")
        assert not opens(proxied, "turf.example.org", "http://turf.example.org")
        assert not opens(proxied, "evil.example", "http://evil.example")
        assert opens(proxied, f"127.0.0.1:{proxied.port}", f"http://127.0.0.1:{proxied.port}")
        print("ok - with --public-url https://turf.example.org: that origin, not http://")
    finally:
        for s in servers:
            if s.proc.poll() is None:
                s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


main()
