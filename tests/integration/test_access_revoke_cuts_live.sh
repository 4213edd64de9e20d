#!/usr/bin/env bash
# `turfctl device revoke` cuts a connected tablet off at once (the running
# turfd closes its live connection with REVOKED), refuses it from then on,
# and keeps what it had pushed; the tablet erases everything it held; other
# tablets are not disturbed.
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

turf_server_start
tablet_enroll lost
tablet_enroll other
session=$(tablet lost sessions | head -n1 | cut -f1)
person=$(tablet lost people | head -n1 | cut -f1)
tablet lost checkin "$session" "$person" >/dev/null
tablet lost sync >/dev/null
dev=$(tablet_meta lost device)
pushed=$(sql "select count(*) from ops where device='$dev'")
[ "$pushed" = 1 ] || fail "expected the lost tablet's check-in on the server, found $pushed ops"

# The lost tablet stays connected, live.
"$TURF_TABLET" --db "$TURF_TMP/lost.db" watch --for 60 >"$TURF_TMP/watch.out" 2>"$TURF_TMP/watch.err" &
watcher=$!
wait_until 10 device_online "$dev"
sleep 0.3

start=$(date +%s%N)
out=$(turfctl device revoke "$dev") || fail "revoke failed: $out"
grep -q "^revoked $dev" <<<"$out" || fail "revoke said: $out"
grep -q "turfd cut 1 live connection" <<<"$out" || fail "turfd did not cut the connection: $out"
# The watcher is refused for good (no reconnect loop): it exits by itself.
for i in $(seq 1 50); do kill -0 "$watcher" 2>/dev/null || break; sleep 0.1; done
kill -0 "$watcher" 2>/dev/null && fail "the revoked tablet is still connected 5 s later"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
set +e
wait "$watcher"
status=$?
set -e
[ "$status" = 1 ] || fail "watch exited $status, expected 1 (refused)"
grep -q "REVOKED: this device was revoked" "$TURF_TMP/watch.err" ||
  fail "the tablet was not told why: $(cat "$TURF_TMP/watch.err")"
grep -q "everything it held has been erased" "$TURF_TMP/watch.err" ||
  fail "the tablet did not say it erased its data: $(cat "$TURF_TMP/watch.err")"
# It erased what it held: records, outbox, token, and their bytes.
for table in participants sessions checkin_sources outbox; do
  [ "$(sqlite3 "$TURF_TMP/lost.db" "select count(*) from $table")" = 0 ] ||
    fail "the revoked tablet still holds rows in $table"
done
[ -z "$(tablet_meta lost token)" ] || fail "the revoked tablet kept its token"
if grep -a -q "Fatima" "$TURF_TMP/lost.db" "$TURF_TMP/lost.db-wal" 2>/dev/null; then
  fail "a participant's name is still readable in the revoked tablet's file"
fi
note "cut off ${elapsed_ms} ms after the revoke command started"
grep -q "admin: device $dev revoked, 1 connection(s) cut" "$TURF_TMP/turfd.log" ||
  fail "turfd did not log the cut"

# Refused from now on, and its token is gone from the database. The erased
# file has no identity left: enrolled again with a fresh code it becomes a
# new device, and the revoked id stays revoked.
[ "$(sql "select revoked from devices where id='$dev'")" = 1 ] || fail "not marked revoked"
[ "$(sql "select token_hash is null from devices where id='$dev'")" = 1 ] || fail "token hash kept"
if tablet lost sync --timeout 10 >"$TURF_TMP/sync.out" 2>"$TURF_TMP/sync.err"; then
  fail "a revoked tablet could still sync"
fi
grep -q "not enrolled\|run .enroll. first" "$TURF_TMP/sync.err" || fail "sync error: $(cat "$TURF_TMP/sync.err")"
code=$(enroll_code --org 1)
"$TURF_TABLET" --db "$TURF_TMP/lost.db" enroll --server "$TURF_URL" --code "$code" \
  >/dev/null 2>&1 || fail "the erased tablet could not enrol as a new device"
[ "$(tablet_meta lost device)" != "$dev" ] || fail "the erased tablet enrolled with its old id"
[ "$(sql "select revoked from devices where id='$dev'")" = 1 ] || fail "the old id is no longer revoked"
turfctl device list | grep -q "^$dev.*revoked" || fail "device list does not show it revoked"

# Without the admin socket turfd does not hear of a revocation, but the
# next thing the tablet pushes is refused and its connection cut.
tablet_enroll quiet
qdev=$(tablet_meta quiet device)
"$TURF_TABLET" --db "$TURF_TMP/quiet.db" watch --for 60 >"$TURF_TMP/quiet.out" 2>"$TURF_TMP/quiet.err" &
quiet=$!
wait_until 10 device_online "$qdev"
turfctl --admin-socket none device revoke "$qdev" >/dev/null 2>"$TURF_TMP/quiet.revoke"
grep -q "no turfd answered" "$TURF_TMP/quiet.revoke" || fail "revoke without socket: $(cat "$TURF_TMP/quiet.revoke")"
tablet quiet checkin "$session" "$person" >/dev/null # recorded by another process
for i in $(seq 1 100); do kill -0 "$quiet" 2>/dev/null || break; sleep 0.1; done
kill -0 "$quiet" 2>/dev/null && fail "the revoked tablet pushed and stayed connected"
set +e
wait "$quiet"
status=$?
set -e
[ "$status" = 1 ] || fail "quiet watch exited $status"
grep -q "REVOKED" "$TURF_TMP/quiet.err" || fail "quiet: $(cat "$TURF_TMP/quiet.err")"
[ "$(sql "select count(*) from ops where device='$qdev'")" = 0 ] || fail "a revoked push was stored"

# What it pushed stays, and the other tablet syncs on undisturbed.
[ "$(sql "select count(*) from ops where device='$dev'")" = "$pushed" ] || fail "its ops went"
tablet other sync >/dev/null || fail "the other tablet cannot sync"
tablet other attendance "$session" | grep -q "$(tablet other people | head -n1 | cut -f2)" ||
  fail "the revoked tablet's check-in is gone from the other tablet"
turf_server_stop
echo "ok - revoked device cut off live"
