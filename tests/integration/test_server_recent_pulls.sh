#!/usr/bin/env bash
# Pulls of ops turfd has just seen committed are answered from memory
# (server/recent.c) and give tablets exactly what the database would; once
# turfctl changes the organisation (here: erases a participant, which
# rewrites ops already sent out), pulls go to the database again, so the
# erased name is not served from memory to a tablet catching up.
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

NAME="Geertruida Zelden"   # appears nowhere else
# pulls_since N DEVICE — the device's pulls logged after its first N.
pulls_since() { grep "pull conn=[0-9]* device=$2 " "$TURF_TMP/turfd.log" | tail -n +$(($1 + 1)); }
pull_count() { grep -c "pull conn=[0-9]* device=$1 " "$TURF_TMP/turfd.log"; }

TURF_LOG_LEVEL=debug turf_server_start
for t in writer listener memory database fresh; do tablet_enroll $t; done
session=$(tablet writer sessions | head -n1 | cut -f1)
memory=$(tablet_meta memory device)
database=$(tablet_meta database device)

# The listener stays connected, so the organisation's recent ops are kept.
"$TURF_TABLET" --db "$TURF_TMP/listener.db" watch --for 60 >"$TURF_TMP/watch.out" 2>&1 &
watcher=$!
wait_until 10 device_online "$(tablet_meta listener device)"

# The writer records offline: check-ins, a walk-in, tallies, a message.
for person in "Anneke Bakker" "Joop de Vries" "Priya Ramdin"; do
  tablet writer checkin "$session" "$person" >/dev/null
done
id=$(tablet writer walkin "$session" "$NAME")
tablet writer tally "$session" 4 >/dev/null
tablet writer log "$session" --start --headcount 9 --notes "druk" >/dev/null
tablet writer sync >/dev/null

# A tablet that was synced before those ops catches up from memory.
n=$(pull_count "$memory")
tablet memory sync >/dev/null
pulls_since "$n" "$memory" | grep -q "(recent)" ||
  fail "the catching-up pull was not answered from memory: $(pulls_since "$n" "$memory")"
tablet memory people | grep -q "$NAME" || fail "the memory-served tablet lacks the walk-in"
[ "$(tablet memory dump)" = "$(tablet writer dump)" ] || fail "memory-served replica differs"

# turfctl erases the walk-in while turfd runs: recent ops are dropped.
out=$(turfctl participant erase --org 1 "$id") || fail "erase failed: $out"
live_erasure() { grep -q "^live [0-9]* erasure $id" "$TURF_TMP/watch.out"; }
wait_until 10 live_erasure
# And a new push commits after it, so that what is kept could reach head
# again: it must not be the ops from before the erasure.
tablet listener tally "$session" 2 >/dev/null
tablet listener sync >/dev/null
n=$(pull_count "$database")
tablet database sync >/dev/null
[ -n "$(pulls_since "$n" "$database")" ] || fail "no pull of the catching-up tablet was logged"
pulls_since "$n" "$database" | grep -q "(recent)" &&
  fail "a pull after the erasure was answered from memory: $(pulls_since "$n" "$database")"
tablet memory sync >/dev/null
tablet writer sync >/dev/null
tablet fresh sync >/dev/null
for t in database memory writer fresh; do
  tablet $t people | grep -q "$NAME" && fail "$t still lists the erased participant"
done
kill -TERM "$watcher"
wait "$watcher" || fail "watch exited $?"
reference=$(tablet writer dump)
for t in listener memory database fresh; do
  [ "$(tablet $t dump)" = "$reference" ] || fail "$t's replica differs from the writer's"
done
grep -q "$NAME" "$TURF_TMP/database.db" "$TURF_TMP/database.db-wal" 2>/dev/null &&
  fail "the tablet that caught up after the erasure holds the name"
echo "ok"
