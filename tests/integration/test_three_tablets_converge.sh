#!/usr/bin/env bash
# Three tablets record offline, reconnect one after another in different
# orders, and all end with identical attendance, tallies, messages and logs;
# concurrent overwrites leave their losing value in the conflict log.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
for t in a b c; do tablet_enroll "$t"; done
session=$(tablet a sessions | head -n1 | cut -f1)
activity=$(tablet a sessions | head -n1 | cut -f3)
mapfile -t people < <(tablet a people | cut -f1)

# Round 1, all offline: overlapping check-ins, tallies, a walk-in each,
# messages, and competing session-log notes.
turf_server_stop
for t in a b c; do
  tablet "$t" checkin "$session" "${people[0]}" >/dev/null
  tablet "$t" tally "$session" 2 >/dev/null
  tablet "$t" walkin "$session" "Walk-in van $t" >/dev/null
  tablet "$t" post "$activity" "Groeten van tablet $t" >/dev/null
  tablet "$t" log "$session" --notes "notities van $t" >/dev/null
done
tablet a checkin "$session" "${people[1]}" >/dev/null
tablet b status "$session" "${people[1]}" excused >/dev/null
tablet c checkout "$session" "${people[0]}" >/dev/null

turf_server_start
for t in a b c; do tablet "$t" sync >/dev/null; done
for t in a b; do tablet "$t" sync >/dev/null; done   # a and b catch up with c

# Round 2, offline again, reconnecting in the opposite order.
turf_server_stop
tablet c status "$session" "${people[0]}" absent >/dev/null
tablet a status "$session" "${people[0]}" present >/dev/null
tablet b tally "$session" -1 >/dev/null
tablet a log "$session" --headcount 12 >/dev/null
turf_server_start
for t in c b a; do tablet "$t" sync >/dev/null; done
for t in c b; do tablet "$t" sync >/dev/null; done

for t in b c; do
  diff <(tablet a dump) <(tablet "$t" dump) || fail "tablet $t differs from tablet a"
  diff <(tablet a attendance) <(tablet "$t" attendance) || fail "attendance of $t differs"
done
# The server holds the same state as the tablets.
[ "$(sql "select count(*) from checkins where session='$session' and participant='${people[0]}'")" -eq 1 ] ||
  fail "one person checked in on three tablets is not one check-in"
[ "$(sql "select total from session_tallies where session='$session'")" -eq 5 ] ||
  fail "tallies 2+2+2-1 do not add up to 5"
[ "$(sql "select count(*) from messages where activity=(select activity from sessions where id='$session')")" -ge 3 ] ||
  fail "a message was lost"
[ "$(sql "select count(*) from participants where name like 'Walk-in van %'")" -eq 3 ] ||
  fail "walk-ins lost"
[ "$(sql "select headcount from session_logs where session='$session'")" -eq 12 ] ||
  fail "session log headcount lost"
conflicts=$(sql "select count(*) from conflicts")
[ "$conflicts" -ge 2 ] || fail "concurrent overwrites left only $conflicts conflict rows"
note "conflict rows: $conflicts"
tablet a attendance
turf_server_stop
echo "ok - three tablets converge"
