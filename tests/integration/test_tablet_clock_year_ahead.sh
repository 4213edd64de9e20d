#!/usr/bin/env bash
# A tablet whose clock jumps a year ahead while offline: its HLC would beat
# every other device for a year. The server bounds it, so a genuinely later
# write from a normal tablet still wins; once synced, the tablet shows
# today's sessions and stamps new check-ins with the corrected time.
source "$TURF_TEST_LIB/lib.sh"

YEAR_MS=$((365 * 24 * 3600 * 1000))
ahead() { tablet a --clock-skew-ms "$YEAR_MS" "$@"; }

turf_server_start
tablet_enroll a
tablet_enroll b
session=$(tablet b sessions | head -n1 | cut -f1)
mapfile -t people < <(tablet b people | cut -f1)
device_a=$(sql "select id from devices where name='a'")
turf_server_stop

# Offline, a's clock is now a year ahead (it enrolled with a good clock, so
# it has no reason yet to distrust it).
ahead status "$session" "${people[0]}" excused >/dev/null
[ -z "$(ahead sessions)" ] || fail "a year ahead, there should be no sessions 'today' yet"

turf_server_start
before=$(program_now_ms)
ahead sync >/dev/null
hlc=$(sql "select hlc from ops where device='$device_a' order by seq desc limit 1")
[ $((hlc >> 16)) -le $(( $(program_now_ms) + 60000 )) ] ||
  fail "the server kept an HLC $(( (hlc >> 16) - before )) ms in the future"

# b changes the same status afterwards: genuinely later, so it must win.
sleep 0.05
tablet b status "$session" "${people[0]}" present >/dev/null
tablet b sync >/dev/null
ahead sync >/dev/null
status_of() { tablet "$1" dump | awk -F'\t' -v s="$session" -v p="${people[0]}" \
  '$1=="checkins" && $2==s && $3==p {print $4}'; }
[ "$(status_of a)" = present ] || fail "tablet a kept its year-ahead write: $(status_of a)"
[ "$(status_of b)" = present ] || fail "tablet b: $(status_of b)"
[ "$(sql "select status from checkins where session='$session' and participant='${people[0]}'")" = present ] ||
  fail "server kept the year-ahead write"

# After syncing, the skewed tablet sees today's sessions and records times
# on the corrected clock.
diff <(ahead sessions) <(tablet b sessions) || fail "a does not show today's sessions"
t0=$(program_now_ms)
ahead checkin "$session" "${people[1]}" >/dev/null
t1=$(program_now_ms)
# Its HLC has settled back to the corrected clock too, so this op will not
# need the server's bound.
hlc=$(sqlite3 "$TURF_TMP/a.db" "select max(hlc) from outbox")
[ $((hlc >> 16)) -le $((t1 + 1000)) ] ||
  fail "a still stamps HLCs $(( (hlc >> 16) - t1 )) ms ahead after syncing"
arrived=$(ahead dump | awk -F'\t' -v s="$session" -v p="${people[1]}" \
  '$1=="checkins" && $2==s && $3==p {print $5}')
[ "$arrived" -ge $((t0 - 5000)) ] && [ "$arrived" -le $((t1 + 5000)) ] ||
  fail "new check-in stamped $((arrived - t1)) ms off the real time"
ahead sync >/dev/null
tablet b sync >/dev/null
diff <(ahead attendance) <(tablet b attendance) || fail "attendance differs"
diff <(ahead dump) <(tablet b dump) || fail "dumps differ"
turf_server_stop
echo "ok - a clock a year ahead does not win and is corrected"
