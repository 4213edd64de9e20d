#!/usr/bin/env bash
# A tablet whose enrolment hello reached the server but whose welcome never
# arrived holds a device id the server knows and no token. The server
# enrols a device id once, so enrolling again (with a code that has uses
# left) makes the tablet a new device; it then syncs as any other.
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

turf_server_start
tablet_enroll lost
first=$(tablet_meta lost device)
[ "$(sql "select count(*) from devices where id = '$first'")" = 1 ] || fail "not enrolled"
# The welcome "never arrived": the file keeps its id but no token.
sqlite3 "$TURF_TMP/lost.db" "update meta set v = '' where k = 'token'"

# The same id with a code is refused, as for anyone else holding a code.
out=$(tablet lost enroll --server "$TURF_URL" --code "$TURF_CODE" --name lost 2>&1) ||
  fail "enrolling again failed: $out"
second=$(tablet_meta lost device)
[ -n "$second" ] && [ "$second" != "$first" ] || fail "the tablet kept device id $first"
[ -n "$(tablet_meta lost token)" ] || fail "no token after enrolling again"
tablet lost checkin dance "Fatima el Amrani" >/dev/null
tablet lost sync | grep -q "acked 1" || fail "the re-enrolled tablet could not push"
[ "$(sql "select count(*) from ops where device = '$second'")" = 1 ] || fail "op not stored"
turf_server_stop
echo "ok - a tablet enrols again as a new device after a lost welcome"
