#!/usr/bin/env bash
# A push that was acked survives SIGKILL of turfd: after a restart every acked
# op is in the database exactly once and another tablet receives all of them.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
tablet_enroll a
tablet_enroll b
session=$(tablet a sessions | head -n1 | cut -f1)

for person in $(tablet a people | cut -f1); do
  tablet a checkin "$session" "$person" >/dev/null
done
for i in $(seq 1 20); do tablet a tally "$session" >/dev/null; done
tablet a post "$(tablet a sessions | head -n1 | cut -f3)" "Koffie staat klaar" >/dev/null
recorded=$(tablet a outbox)
[ "$recorded" -ge 26 ] || fail "expected at least 26 ops in the outbox, found $recorded"

out=$(tablet a sync)
note "$out"
echo "$out" | grep -q "acked $recorded " || fail "not all $recorded ops acked: $out"
[ "$(tablet a outbox)" -eq 0 ] || fail "outbox not empty after acks"

# No graceful shutdown: the process dies the moment the acks are out.
turf_server_kill9
turf_server_start

device=$(sql "select id from devices where name='a'")
stored=$(sql "select count(*) from ops where device='$device'")
distinct=$(sql "select count(distinct seq) from ops where device='$device'")
[ "$stored" -eq "$recorded" ] || fail "acked $recorded ops but $stored survived SIGKILL"
[ "$distinct" -eq "$stored" ] || fail "duplicate ops after restart"
note "acked=$recorded stored_after_kill9=$stored duplicates=$((stored - distinct))"

tablet b sync >/dev/null
diff <(tablet a dump) <(tablet b dump) || fail "tablet b differs from tablet a after restart"
[ "$(sql "select total from session_tallies where session='$session'")" -eq 20 ] ||
  fail "tally lost"
turf_server_stop
echo "ok - nothing acked was lost to SIGKILL"
