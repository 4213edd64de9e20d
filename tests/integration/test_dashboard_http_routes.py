"""The dashboard's http routes on turfd's own port, behind the login.

Without a session, the page (/, /dashboard, /dashboard/, /dashboard/index.html)
redirects to the login page (/login), which answers with the login form; its
files (style and scripts, no data) answer anyone. With the session cookie of
a coordinator the page answers, and /login sends on to it. Every page has no
caching and a content security policy; unknown paths are 404; /healthz still
answers; only GET is served. The dashboard's websocket needs the session
cookie too, refuses another site's Origin and accepts the page's own, and
closes when its coordinator logs out. The page served is the one in
server/web/.
"""
import asyncio
import http.client
import os
import sys

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dashboard_lib import Feed, run, upgrade  # noqa: E402

WEB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "server", "web")


def get(port, path, method="GET", host=None, cookie=None):
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Host": host} if host else {}
    if cookie:
        headers["Cookie"] = cookie
    con.request(method, path, headers=headers)
    res = con.getresponse()
    body = res.read()
    con.close()
    return res.status, {k.lower(): v for k, v in res.getheaders()}, body


def check_page(status, headers, body, want, what):
    assert status == 200, (what, status)
    assert headers["content-type"] == "text/html; charset=utf-8", headers
    assert body == want, what
    assert headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


async def test(server):
    port = server.port
    index = open(os.path.join(WEB, "index.html"), "rb").read()
    login_page = open(os.path.join(WEB, "login.html"), "rb").read()
    pages = ("/", "/dashboard", "/dashboard/", "/dashboard/index.html")

    # Nobody logged in: the login form, never the page.
    for path in pages:
        status, headers, body = get(port, path)
        assert status == 303 and headers["location"].endswith("/login"), (path, status, headers)
        assert body == b"" and headers["cache-control"] == "no-store"
    # The page's language goes along to the login form (and nothing else).
    assert get(port, "/?lang=en")[1]["location"].endswith("/login?lang=en")
    assert get(port, "/dashboard/?lang=nl")[1]["location"].endswith("/login?lang=nl")
    assert get(port, "/?lang=%22%3E")[1]["location"].endswith("/login")
    check_page(*get(port, "/login"), login_page, "/login")
    assert b'action="/auth/login"' in login_page and b'method="post"' in login_page
    for name, ctype in (("app.js", "text/javascript; charset=utf-8"),
                        ("app.css", "text/css; charset=utf-8"),
                        ("login.js", "text/javascript; charset=utf-8")):
        status, headers, body = get(port, "/dashboard/" + name)
        assert status == 200 and headers["content-type"] == ctype, (name, status, headers)
        assert body == open(os.path.join(WEB, name), "rb").read(), name
        assert int(headers["content-length"]) == len(body)
    made_up = "turf_session=" + "0" * 64
    assert get(port, "/", cookie=made_up)[0] == 303

    # Logged in: the page, and /login sends on to it.
    cookie = server.cookie()
    for path in pages:
        check_page(*get(port, path, cookie=cookie), index, path)
    status, headers, _ = get(port, "/login", cookie=cookie)
    assert status == 303 and headers["location"].endswith("/"), (status, headers)
    assert get(port, "/login?lang=en", cookie=cookie)[1]["location"].endswith("/?lang=en")
    # Any name the server is reached by serves it (logins, not addresses,
    # guard it now).
    assert get(port, "/dashboard/", host=f"turf.example:{port}", cookie=cookie)[0] == 200

    for path in ("/nope", "/dashboard/secret.db", "/dashboard/../server.db", "/healthzz"):
        assert get(port, path)[0] == 404, path
        assert get(port, path, cookie=cookie)[0] == 404, path
    status, _, body = get(port, "/healthz")
    assert status == 200 and b'"status":"ok"' in body
    assert get(port, "/dashboard/", method="POST", cookie=cookie)[0] == 405
    assert get(port, "/dashboard/", method="DELETE", cookie=cookie)[0] in (403, 405)

    # The websocket: a session and the page's own origin are welcome;
    # no session, a made-up one, or another site's origin are not.
    feed = await Feed.open(server, origin=f"http://127.0.0.1:{port}")
    await feed.ws.close()
    for cookie_, origin in (("", None), (made_up, None), (cookie, "http://evil.example")):
        try:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}/",
                                          subprotocols=["turf.dashboard.v1"], origin=origin,
                                          extra_headers={"Cookie": cookie_} if cookie_ else {})
            await ws.close()
            raise AssertionError(f"let in: cookie={cookie_!r} origin={origin!r}")
        except websockets.exceptions.InvalidHandshake:
            pass
    assert upgrade(port, f"127.0.0.1:{port}", cookie=cookie).startswith("HTTP/1.1 101")
    assert not upgrade(port, f"127.0.0.1:{port}").startswith("HTTP/1.1 101")
    assert not upgrade(port, f"127.0.0.1:{port}", "http://evil.example",
                       cookie=cookie).startswith("HTTP/1.1 101")
    # The sync protocol's own subprotocol is untouched by all this.
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/", subprotocols=["turf.v1"])
    assert ws.subprotocol == "turf.v1"
    await ws.close()

    # Logging out closes the open feed and the cookie opens nothing more.
    feed = await Feed.open(server)
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    con.request("POST", "/auth/logout", headers={"Cookie": cookie, "Accept": "application/json"})
    res = con.getresponse()
    assert res.status == 204, (res.status, res.read())
    con.close()
    try:
        await feed.until(lambda f: False, "the feed to close after logout")
        raise AssertionError("the feed stayed open after logout")
    except websockets.exceptions.ConnectionClosed:
        pass
    assert get(port, "/", cookie=cookie)[0] == 303
    assert not upgrade(port, f"127.0.0.1:{port}", cookie=cookie).startswith("HTTP/1.1 101")


run(test)
print("ok")
