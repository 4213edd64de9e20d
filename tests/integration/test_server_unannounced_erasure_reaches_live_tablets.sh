#!/usr/bin/env bash
# An erasure turfd is not told of (turfctl without the admin socket) still
# reaches the tablets connected at the time, and a tablet pulling from an
# old cursor is not handed the erased name from what turfd keeps in memory
# (server/recent.c): turfd looks for commits made outside it every second
# (sync.c, SYNC__PROBE_MS), and at any device's hello.
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

NAME="Geertruida Onvindbaar"   # appears nowhere else
turf_server_start --admin-socket none
for t in writer listener; do tablet_enroll $t; done
session=$(tablet writer sessions | head -n1 | cut -f1)

# The listener stays connected: the organisation's recent ops are kept in
# memory, the participant's name among them.
"$TURF_TABLET" --db "$TURF_TMP/listener.db" watch --for 60 >"$TURF_TMP/watch.out" 2>&1 &
watcher=$!
wait_until 10 device_online "$(tablet_meta listener device)"
id=$(tablet writer walkin "$session" "$NAME")
tablet writer sync >/dev/null
listener_has() { sqlite3 "$TURF_TMP/listener.db" "select count(*) from participants where name = '$NAME'"; }
wait_until 10 test "$(listener_has)" = 1

out=$(turfctl --admin-socket none participant erase --org 1 "$id" 2>&1) || fail "erase: $out"
grep -q "no turfd answered" <<<"$out" || fail "turfd was told after all: $out"
# Nobody says hello: the listener learns of the erasure from turfd's probe.
gone() { [ "$(listener_has)" = 0 ]; }
wait_until 10 gone
grep -q "commits from outside turfd found" "$TURF_TMP/turfd.log" || fail "no probe line in the log"

# A device pulling from the start gets no op that names the erased person.
/usr/bin/python3 - "$TURF_URL" "$TURF_CODE" "$NAME" <<'PY'
import asyncio, sys, uuid, msgpack, websockets
url, code, name = sys.argv[1:]
async def main():
    async with websockets.connect(url, subprotocols=["turf.v1"]) as ws:
        await ws.send(msgpack.packb({"t": 1, "v": 1, "dev": str(uuid.uuid4()), "code": code}))
        assert msgpack.unpackb(await ws.recv())["t"] == 2
        cur, more = 0, True
        while more:
            await ws.send(msgpack.packb({"t": 5, "cur": cur, "lim": 1000}))
            page = msgpack.unpackb(await ws.recv(), strict_map_key=False)
            while page["t"] != 6:
                page = msgpack.unpackb(await ws.recv(), strict_map_key=False)
            assert name.encode() not in msgpack.packb(page), "a pull handed out the erased name"
            cur, more = page["cur"], page["more"]
asyncio.run(main())
PY
kill -TERM "$watcher"
wait "$watcher" || fail "watch exited $?"
turf_server_stop
echo "ok - an unannounced erasure reaches live tablets and is not undone from memory"
