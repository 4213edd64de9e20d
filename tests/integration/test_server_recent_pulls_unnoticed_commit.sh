#!/usr/bin/env bash
# turfd keeps an organisation's latest commits in memory to answer pulls
# (server/recent.c). When turfctl commits without reaching turfd (no admin
# socket), a tablet that syncs afterwards must still get what turfctl
# wrote: its hello brings the database's head, which what is kept in
# memory no longer reaches, so its pull reads the database.
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

TURF_LOG_LEVEL=debug turf_server_start --admin-socket none
for t in writer listener late; do tablet_enroll $t; done
session=$(tablet writer sessions | head -n1 | cut -f1)

# The listener stays connected, so the organisation's recent ops are kept.
"$TURF_TABLET" --db "$TURF_TMP/listener.db" watch --for 60 >"$TURF_TMP/watch.out" 2>&1 &
watcher=$!
wait_until 10 device_online "$(tablet_meta listener device)"
tablet writer checkin "$session" "Anneke Bakker" >/dev/null
tablet writer sync >/dev/null

# turfctl writes an activity; turfd is not told.
location=$(turfctl --admin-socket none location list --org 1 | awk 'NR == 2 {print $1}')
[ -n "$location" ] || fail "no location to put the activity at"
out=$(turfctl --admin-socket none activity create --org 1 --location "$location" \
  "Naaicafe Onopgemerkt" 2>&1) || fail "turfctl: $out"

tablet late sync >/dev/null
tablet late dump | grep -q "Naaicafe Onopgemerkt" ||
  fail "a tablet syncing after turfctl's commit did not get it"
tablet late dump | grep -q "Anneke Bakker" || fail "the late tablet lacks the pushed check-in"
kill -TERM "$watcher"
wait "$watcher" || fail "watch exited $?"
echo "ok"
