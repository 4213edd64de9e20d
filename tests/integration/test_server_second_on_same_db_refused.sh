#!/usr/bin/env bash
# A second turfd on a database another turfd serves refuses to start with one
# plain line, and changes nothing: the first one's demo password and
# enrolment code keep working.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
password=$(awk '$1=="password"{print $2}' "$TURF_TMP/ready")
hash_before=$(sql "select password_hash from coordinators where login = 'demo'")
codes_before=$(sql "select count(*) from enroll_codes")

set +e
# Bounded: a turfd that wrongly starts must not hold the test up.
timeout 20 "$TURFD" --listen 127.0.0.1 --port 0 --db "$TURF_DB" --demo \
  --ready-file "$TURF_TMP/second.ready" >"$TURF_TMP/second.out" 2>"$TURF_TMP/second.err"
status=$?
set -e
[ "$status" = 1 ] || fail "the second turfd exited $status"
[ ! -f "$TURF_TMP/second.ready" ] || fail "the second turfd became ready"
[ "$(grep -c . "$TURF_TMP/second.err")" = 1 ] || fail "not one line: $(cat "$TURF_TMP/second.err")"
grep -q "server.db is in use by another turfd" "$TURF_TMP/second.err" ||
  fail "unclear refusal: $(cat "$TURF_TMP/second.err")"
[ ! -s "$TURF_TMP/second.out" ] || fail "the second turfd printed: $(cat "$TURF_TMP/second.out")"

[ "$(sql "select password_hash from coordinators where login = 'demo'")" = "$hash_before" ] ||
  fail "the demo coordinator's password was replaced"
[ "$(sql "select count(*) from enroll_codes")" = "$codes_before" ] || fail "a new code was issued"
[ -n "$password" ] || fail "the first turfd wrote no password"
tablet_enroll a
tablet a sync >/dev/null || fail "the first turfd stopped serving"

# Once the first has stopped, the database is free again.
turf_server_stop
turf_server_start
turf_server_stop
echo "ok - a second turfd on the same database is refused"
