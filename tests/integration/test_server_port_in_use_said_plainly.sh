#!/usr/bin/env bash
# turfd on a port that is taken, or on an address that is not this
# machine's, says so in words and exits 1 before it touches the database.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
set +e
timeout 20 "$TURFD" --listen 127.0.0.1 --port "$TURF_PORT" --db "$TURF_TMP/other.db" --demo \
  >"$TURF_TMP/busy.out" 2>"$TURF_TMP/busy.err"
status=$?
set -e
[ "$status" = 1 ] || fail "turfd on a busy port exited $status"
grep -q "port $TURF_PORT is in use; --port or TURF_PORT picks another" "$TURF_TMP/busy.err" ||
  fail "unclear: $(cat "$TURF_TMP/busy.err")"
grep -q "ERROR on binding" "$TURF_TMP/busy.err" && fail "lws's message leaked: $(cat "$TURF_TMP/busy.err")"
[ "$(sqlite3 "$TURF_TMP/other.db" "select count(*) from sqlite_master")" = 0 ] ||
  fail "the database was set up although turfd could not listen"

# 192.0.2.1 (TEST-NET-1) is never an address of this machine; nothing is sent.
set +e
timeout 20 "$TURFD" --listen 192.0.2.1 --port 7780 --db "$TURF_TMP/other.db" 2>"$TURF_TMP/addr.err" >/dev/null
status=$?
set -e
[ "$status" = 1 ] || fail "turfd on a foreign address exited $status"
grep -q "192.0.2.1 is not an address of this machine; --listen or TURF_LISTEN picks another" \
  "$TURF_TMP/addr.err" || fail "unclear: $(cat "$TURF_TMP/addr.err")"
turf_server_stop
echo "ok - a busy port and a foreign address are said plainly"
