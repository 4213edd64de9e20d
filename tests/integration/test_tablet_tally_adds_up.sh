#!/usr/bin/env bash
# Anonymous visitors counted at the door by three tablets at once add up:
# each tablet's counter is its own, corrections stay with the tablet that
# made them, and syncing again never counts anything twice.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
for t in a b c; do tablet_enroll "$t"; done
session=$(tablet a sessions | head -n1 | cut -f1)
turf_server_stop

tablet a tally "$session" 3 >/dev/null
tablet b tally "$session" 2 >/dev/null
tablet a tally "$session" -1 >/dev/null # a miscounted once
tablet c tally "$session" 5 >/dev/null
for i in 1 2 3; do tablet b tally "$session" >/dev/null; done
tablet c tally "$session" -10 2>/dev/null && fail "a tablet's count went below zero"

turf_server_start
for t in a b c; do tablet "$t" sync >/dev/null; done
for t in a b c; do tablet "$t" sync >/dev/null; done
# a+b+c = 2 + 5 + 5
for t in a b c; do
  tablet "$t" attendance "$session" | sed -n 1p | grep -q "tally=12" ||
    fail "tablet $t: $(tablet "$t" attendance "$session" | head -n1), want tally=12"
done
[ "$(sql "select total from session_tallies where session='$session'")" -eq 12 ] ||
  fail "server total is not 12"

# Online, both keep counting; then everybody syncs twice more.
tablet a tally "$session" 2 >/dev/null
tablet c tally "$session" 1 >/dev/null
for t in a b c a b c; do tablet "$t" sync >/dev/null; done
for t in a b c; do
  tablet "$t" attendance "$session" | sed -n 1p | grep -q "tally=15" ||
    fail "tablet $t: $(tablet "$t" attendance "$session" | head -n1), want tally=15"
done
[ "$(sql "select total from session_tallies where session='$session'")" -eq 15 ] ||
  fail "server total is not 15"
diff <(tablet a dump) <(tablet c dump) || fail "dumps differ"
turf_server_stop
echo "ok - tallies add up"
