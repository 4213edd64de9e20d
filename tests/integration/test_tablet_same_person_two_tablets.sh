#!/usr/bin/env bash
# Two tablets check in the same person for the same class while offline: the
# result is one check-in, arriving at the earlier arrival, leaving at the
# later departure, with the status written last; identical on both tablets
# and on the server.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
tablet_enroll a
tablet_enroll b
session=$(tablet a sessions | head -n1 | cut -f1)
person=$(tablet a people | head -n1 | cut -f1)
turf_server_stop

# fields of a checkins dump line: 4 status, 5 arrived (ms), 6 departed (ms)
checkin_field() { tablet "$1" dump | awk -F'\t' -v s="$session" -v p="$person" -v f="$2" \
  '$1=="checkins" && $2==s && $3==p {print $f}'; }

tablet a checkin "$session" "$person" >/dev/null
arrived_a=$(checkin_field a 5)
sleep 0.2
tablet b checkin "$session" "$person" >/dev/null
arrived_b=$(checkin_field b 5)
tablet b checkout "$session" "$person" >/dev/null
departed_b=$(checkin_field b 6)
sleep 0.2
tablet a checkout "$session" "$person" >/dev/null
departed_a=$(checkin_field a 6)
sleep 0.2
tablet b status "$session" "$person" excused >/dev/null
[ "$arrived_a" -lt "$arrived_b" ] || fail "test setup: arrivals $arrived_a $arrived_b"
[ "$departed_b" -lt "$departed_a" ] || fail "test setup: departures $departed_b $departed_a"

turf_server_start
tablet a sync >/dev/null
tablet b sync >/dev/null
tablet a sync >/dev/null

for t in a b; do
  [ "$(checkin_field $t 4)" = excused ] || fail "tablet $t: status $(checkin_field $t 4), want the later excused"
  [ "$(checkin_field $t 5)" = "$arrived_a" ] || fail "tablet $t: arrival is not the earliest"
  [ "$(checkin_field $t 6)" = "$departed_a" ] || fail "tablet $t: departure is not the latest"
done
diff <(tablet a attendance) <(tablet b attendance) || fail "attendance differs"
diff <(tablet a dump) <(tablet b dump) || fail "dumps differ"
[ "$(tablet a attendance "$session" | grep -c "	excused	")" -eq 1 ] ||
  fail "the person is listed more than once"
[ "$(sql "select count(*) from checkins where session='$session' and participant='$person'")" -eq 1 ] ||
  fail "server holds more than one check-in"
[ "$(sql "select arrived || ' ' || departed from checkins where session='$session' and participant='$person'")" = "$arrived_a $departed_a" ] ||
  fail "server times differ from the tablets'"
turf_server_stop
echo "ok - one person on two tablets is one check-in"
