#!/usr/bin/env bash
# Two tablets enrol, lose the server, keep working offline (check-ins, a
# walk-in, tallies, a message, a session log), and once the server is back
# and both have synced they print the same attendance and the same dump,
# and that state is the one that was recorded.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
tablet_enroll a
tablet_enroll b
session=$(tablet a sessions | head -n1 | cut -f1)
activity=$(tablet a sessions | head -n1 | cut -f3)
mapfile -t people < <(tablet a people | cut -f1)
[ "${#people[@]}" -ge 3 ] || fail "the demo has fewer than 3 participants"

turf_server_stop

# With the server gone, sync fails clearly and keeps the data.
tablet a checkin "$session" "${people[0]}" >/dev/null
if tablet a sync --timeout 5 >"$TURF_TMP/offline.out" 2>"$TURF_TMP/offline.err"; then
  fail "sync succeeded without a server"
fi
grep -qi "cannot reach" "$TURF_TMP/offline.err" ||
  fail "no clear message when the server is down: $(cat "$TURF_TMP/offline.err")"
[ "$(tablet a outbox)" -eq 1 ] || fail "the failed sync lost the outbox"

tablet a checkin "$session" "${people[1]}" >/dev/null
tablet a tally "$session" 4 >/dev/null
msg=$(tablet a post "$activity" "Vandaag koffie met appeltaart")
tablet a log "$session" --start --headcount 9 --notes "rustige ochtend" >/dev/null
walkin=$(tablet b walkin "$session" "Nieuwe Buurvrouw" --referral "wijkteam")
tablet b checkin "$session" "${people[2]}" >/dev/null
tablet b status "$session" "${people[1]}" excused >/dev/null
tablet b tally "$session" 2 >/dev/null
[ "$(tablet a outbox)" -eq 5 ] || fail "tablet a should hold 5 ops, holds $(tablet a outbox)"
[ "$(tablet b outbox)" -eq 5 ] || fail "tablet b should hold 5 ops, holds $(tablet b outbox)"
# Offline, each tablet already shows its own work.
tablet b attendance "$session" | grep -q "Nieuwe Buurvrouw	present" ||
  fail "walk-in not shown offline"

turf_server_start
out_a=$(tablet a sync)
out_b=$(tablet b sync)
note "a: $out_a"
note "b: $out_b"
echo "$out_a" | grep -q "acked 5 rejected 0" || fail "tablet a: $out_a"
echo "$out_b" | grep -q "acked 5 rejected 0" || fail "tablet b: $out_b"
tablet a sync >/dev/null # a receives b's ops

diff <(tablet a attendance) <(tablet b attendance) || fail "attendance differs"
diff <(tablet a dump) <(tablet b dump) || fail "dumps differ"
[ "$(tablet a outbox)" -eq 0 ] && [ "$(tablet b outbox)" -eq 0 ] || fail "outbox not empty"

att=$(tablet a attendance "$session")
note "$att"
echo "$att" | sed -n 1p | grep -q "headcount=9 tally=6" ||
  fail "expected 3 present + 6 tallied: $(echo "$att" | head -n1)"
echo "$att" | grep -q "Nieuwe Buurvrouw	present" || fail "walk-in missing after sync"
echo "$att" | grep -q "	excused	" || fail "status change missing after sync"
tablet b messages "$activity" | grep -q "Vandaag koffie met appeltaart" ||
  fail "message missing on tablet b"
tablet a dump | grep -q "^session_logs	$session	[0-9]*	\\\\N	9	rustige ochtend$" ||
  fail "session log wrong: $(tablet a dump | grep '^session_logs')"
[ "$(sql "select count(*) from participants where id='$walkin'")" -eq 1 ] ||
  fail "walk-in not on the server"
[ "$(sql "select count(*) from messages where id='$msg'")" -eq 1 ] || fail "message not on server"
turf_server_stop
echo "ok - offline work syncs and both tablets agree"
