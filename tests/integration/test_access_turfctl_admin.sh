#!/usr/bin/env bash
# turfctl: --help for every subcommand; organisations, locations,
# activities and sessions it creates reach tablets; device list shows the
# last sync; an online backup taken while turfd serves and a tablet pushes
# is a complete, consistent database; usage and lookup errors say why.
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

# Every command has its own help, on stdout, exit 0.
"$TURFCTL" --help | grep -q "^Usage: turfctl" || fail "turfctl --help"
while read -r cmd; do
  # shellcheck disable=SC2086
  out=$("$TURFCTL" $cmd --help) || fail "turfctl $cmd --help failed"
  grep -q "^Usage: turfctl .*${cmd}" <<<"$out" || fail "turfctl $cmd --help said: $out"
done < <("$TURFCTL" --help | awk '/^  [a-z]/ {
  if ($2 ~ /^(create|list|cancel|export|erase|passwd|disable|enable|revoke|scope|set)$/) print $1, $2; else print $1 }')
[ "$("$TURFCTL" --help | grep -c '^  [a-z]')" -ge 20 ] || fail "fewer commands than expected"
for cmd in "org create" "location list" "participant erase" "coordinator passwd" "enroll" \
  "device revoke" "backup"; do
  # shellcheck disable=SC2086
  "$TURFCTL" $cmd --help | grep -q "^Usage: turfctl" || fail "no help for $cmd"
done
"$TURFCTL" device >/dev/null 2>&1 && fail "a group without subcommand succeeded"
set +e
"$TURFCTL" --db "$TURF_TMP/none.db" location list >/dev/null 2>"$TURF_TMP/err"
status=$?
set -e
[ "$status" = 2 ] || fail "missing --org: exit $status"

turf_server_start
org=$(turfctl org create "Stichting Buurtkracht")
turfctl org list | grep -q "^$org	Stichting Buurtkracht" || fail "org list"
turfctl org create "Stichting Buurtkracht" >/dev/null 2>&1 && fail "duplicate organisation"
loc=$(turfctl location create --org "Stichting Buurtkracht" "Het Anker")
act=$(turfctl activity create --org "$org" --location "Het Anker" --weekday 3 --start 13:30 "Zingen")
# "today" is turfctl's date, which the test's own clock need not share.
ses=$(turfctl session create --org "$org" --activity Zingen --date today --start 13:30)
today=$(turfctl session list --org "$org" --date today | awk -F'\t' -v s="$ses" '$1==s{print $2}')
[ -n "$today" ] || fail "session list --date today lacks the new session"
turfctl location list --org "$org" | grep -q "^$loc	Het Anker" || fail "location list"
turfctl activity list --org "$org" | grep -q "^$act	$loc	Het Anker	Zingen	3	13:30" || fail "activity list"
turfctl session list --org "$org" --date "$today" | grep -q "^$ses	$today	13:30	$act	Zingen" ||
  fail "session list"
# The day's first session of an activity has the id a tablet gives the
# session it starts itself ("<activity>-<date>"), so the two are one; a
# second one that day has an id of its own.
[ "$ses" = "$act-$today" ] || fail "first session of the day is $ses, not $act-$today"
ses2=$(turfctl session create --org "$org" --activity Zingen --date "$today" --start 19:30)
[ -n "$ses2" ] && [ "$ses2" != "$ses" ] || fail "a second session that day: '$ses2'"

# Each organisation has its own time zone, and "today" is the date there:
# Kiritimati (UTC+14) is always one or two dates ahead of Pago Pago (UTC-11),
# whatever this machine's clock and zone.
turfctl org list | grep -q "^$org	Stichting Buurtkracht	.*	Europe/Amsterdam$" || fail "default time zone"
kiri=$(turfctl org create --tz Pacific/Kiritimati "Club Kiritimati")
pago=$(turfctl org create "Club Pago Pago")
turfctl org set --org "$pago" --tz Pacific/Pago_Pago
turfctl org list | grep -q "^$kiri	Club Kiritimati	.*	Pacific/Kiritimati$" || fail "org list: time zone"
for o in "$kiri" "$pago"; do
  turfctl location create --org "$o" Zaal >/dev/null
  turfctl activity create --org "$o" --location Zaal Dans >/dev/null
  turfctl session create --org "$o" --activity Dans --date today >/dev/null
done
date_kiri=$(turfctl session list --org "$kiri" --date today | cut -f2)
date_pago=$(turfctl session list --org "$pago" --date today | cut -f2)
[[ "$date_kiri" > "$date_pago" ]] || fail "today in Kiritimati ($date_kiri) is not after Pago Pago's ($date_pago)"
for bad in Mars/Olympus ../etc/passwd ""; do
  set +e
  "$TURFCTL" --db "$TURF_DB" org set --org "$kiri" --tz "$bad" 2>"$TURF_TMP/err"
  status=$?
  set -e
  [ "$status" = 1 ] && grep -q "not a time zone" "$TURF_TMP/err" || fail "org set --tz '$bad': exit $status, $(cat "$TURF_TMP/err")"
done
turfctl org list | grep -q "^$kiri	.*	Pacific/Kiritimati$" || fail "a refused time zone changed the organisation"
set +e
turfctl activity create --org "$org" --location "Nergens" "X" >/dev/null 2>"$TURF_TMP/err"
status=$?
set -e
[ "$status" = 1 ] && grep -q 'no location "Nergens"' "$TURF_TMP/err" || fail "unknown location: $status"
turfctl activity create --org "$org" --location "Het Anker" --start 25:00 "X" >/dev/null 2>&1 &&
  fail "a start time of 25:00 was accepted"

# A tablet of the new organisation gets what turfctl created.
code=$(enroll_code --org "$org")
"$TURF_TABLET" --db "$TURF_TMP/anker.db" enroll --server "$TURF_URL" --code "$code" --name anker >/dev/null
tablet anker sessions | grep -q "^$ses	13:30	Zingen" || fail "the tablet lacks turfctl's session"
tablet anker walkin "$ses" "Gerda Groen" >/dev/null
tablet anker sync >/dev/null
turfctl participant list --org "$org" | grep -q "	Gerda Groen	" || fail "participant list"
list=$(turfctl device list --org "$org")
dev=$(tablet_meta anker device)
grep -q "^$dev	$org	anker	turf-tablet/0.1	.*	offline	2	0	" <<<"$list" || fail "device list: $list"
ago=$(awk -F'\t' -v d="$dev" '$1==d{print $7}' <<<"$list")
[ "$ago" -ge 0 ] && [ "$ago" -lt 60 ] || fail "last sync $ago s ago"

# Online backup while a tablet keeps pushing.
( for i in $(seq 1 20); do tablet anker tally "$ses" >/dev/null; tablet anker sync >/dev/null; done ) &
pusher=$!
sleep 0.3
turfctl backup "$TURF_TMP/backup.db" >"$TURF_TMP/backup.out" || fail "backup failed"
wait "$pusher" || fail "the tablet could not sync during the backup"
grep -q "backup written to" "$TURF_TMP/backup.out" || fail "backup said: $(cat "$TURF_TMP/backup.out")"
[ "$(sqlite3 "$TURF_TMP/backup.db" "pragma integrity_check")" = ok ] || fail "backup is damaged"
b_head=$(sqlite3 "$TURF_TMP/backup.db" "select head from orgs where id=$org")
b_ops=$(sqlite3 "$TURF_TMP/backup.db" "select count(*) from ops where org=$org")
[ "$b_head" = "$b_ops" ] || fail "backup inconsistent: head $b_head, $b_ops ops"
[ "$b_ops" -ge 5 ] || fail "backup lacks the tablet's ops ($b_ops)"
[ "$(sql "select head from orgs where id=$org")" -ge "$b_head" ] || fail "backup ahead of the server"
[ -e "$TURF_TMP/backup.db.part" ] && fail "a partial backup was left"
turfctl --admin-socket none backup "/nonexistent/dir/b.db" >/dev/null 2>&1 && fail "backup to nowhere"
turf_server_stop
echo "ok - turfctl administers organisations, devices and backups"
