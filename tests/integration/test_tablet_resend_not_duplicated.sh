#!/usr/bin/env bash
# Sending the same ops again never duplicates them: a tablet restored from a
# copy taken before its sync, and two processes of one tablet pushing the
# same outbox, leave every op on the server exactly once and the
# counters, check-ins and messages counted once.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
tablet_enroll a
tablet_enroll b
session=$(tablet a sessions | head -n1 | cut -f1)
activity=$(tablet a sessions | head -n1 | cut -f3)
device=$(sql "select id from devices where name='a'")

for person in $(tablet a people | cut -f1); do
  tablet a checkin "$session" "$person" >/dev/null
done
tablet a tally "$session" 7 >/dev/null
tablet a post "$activity" "Niet dubbel" >/dev/null
recorded=$(tablet a outbox)

# 1. A copy of the file with the outbox still full.
sqlite3 "$TURF_TMP/a.db" ".backup '$TURF_TMP/copy.db'"
tablet a sync >/dev/null
[ "$(sql "select count(*) from ops where device='$device'")" -eq "$recorded" ] ||
  fail "first sync did not store $recorded ops"
cp "$TURF_TMP/copy.db" "$TURF_TMP/a2.db"
[ "$(tablet a2 outbox)" -eq "$recorded" ] || fail "the copy lost its outbox"
out=$(tablet a2 sync)
note "restored copy: $out"
[ "$(tablet a2 outbox)" -eq 0 ] || fail "the restored copy still has ops waiting"
[ "$(sql "select count(*) from ops where device='$device'")" -eq "$recorded" ] ||
  fail "the restored copy's resend was stored again"
diff <(tablet a dump) <(tablet a2 dump) || fail "restored copy differs from the original"

# 2. Two processes of the same tablet stay connected (two watchers on one
# file) while a third records: each watcher polls the shared outbox and
# pushes it, so the same ops reach the server twice. (Started directly, not
# through the `tablet` function, so that $! is turf-tablet itself and not a
# subshell that SIGTERM would kill instead.)
"$TURF_TABLET" --db "$TURF_TMP/a.db" watch --for 90 >"$TURF_TMP/w1.out" 2>"$TURF_TMP/w1.err" &
w1=$!
"$TURF_TABLET" --db "$TURF_TMP/a.db" watch --for 90 >"$TURF_TMP/w2.out" 2>"$TURF_TMP/w2.err" &
w2=$!
sleep 1.5
for i in $(seq 1 150); do tablet a tally "$session" >/dev/null; done
recorded=$((recorded + 150))
for i in $(seq 1 300); do
  [ "$(tablet a outbox)" -eq 0 ] && break
  sleep 0.1
done
[ "$(tablet a outbox)" -eq 0 ] || fail "the watchers did not empty the outbox"
kill -TERM "$w1" "$w2"
wait "$w1" || fail "watcher 1 exited $?: $(cat "$TURF_TMP/w1.err")"
wait "$w2" || fail "watcher 2 exited $?: $(cat "$TURF_TMP/w2.err")"
[ "$(sql "select count(*) from ops where device='$device'")" -eq "$recorded" ] ||
  fail "server holds $(sql "select count(*) from ops where device='$device'") ops of a, recorded $recorded"
[ "$(sql "select count(distinct seq) from ops where device='$device'")" -eq "$recorded" ] ||
  fail "duplicate device_seq on the server"

tablet b sync >/dev/null
[ "$(sql "select total from session_tallies where session='$session'")" -eq 157 ] ||
  fail "tally counted twice: $(sql "select total from session_tallies where session='$session'")"
tablet b attendance "$session" | sed -n 1p | grep -q "tally=157" || fail "tablet b tally wrong"
[ "$(sql "select count(*) from messages where body='Niet dubbel'")" -eq 1 ] ||
  fail "message duplicated"
diff <(tablet a dump) <(tablet b dump) || fail "tablets differ"
turf_server_stop
echo "ok - resends are not duplicated"
