#!/usr/bin/env bash
# A connected tablet receives another tablet's committed ops live, without
# asking, and ends with the same replica.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
tablet_enroll a
tablet_enroll b
session=$(tablet a sessions | head -n1 | cut -f1)
person=$(tablet a people | head -n1 | cut -f1)

"$TURF_TABLET" --db "$TURF_TMP/b.db" watch --for 20 >"$TURF_TMP/watch.out" 2>"$TURF_TMP/watch.err" &
watcher=$!
# Wait until the watcher is connected and caught up (device online).
for i in $(seq 1 100); do
  [ "$(sql "select online from devices where name='b'")" = 1 ] && break
  sleep 0.1
done
sleep 0.5
tablet a checkin "$session" "$person" >/dev/null
tablet a sync >/dev/null
for i in $(seq 1 100); do
  grep -q "^live " "$TURF_TMP/watch.out" && break
  sleep 0.1
done
grep -q "^live .* checkin $session" "$TURF_TMP/watch.out" ||
  fail "watcher saw no live check-in: $(cat "$TURF_TMP/watch.out" "$TURF_TMP/watch.err")"
kill -TERM "$watcher"
wait "$watcher" || fail "watch exited $? on SIGTERM"
diff <(tablet a attendance) <(tablet b attendance) || fail "replicas differ"
turf_server_stop
echo "ok - live fan-out"
