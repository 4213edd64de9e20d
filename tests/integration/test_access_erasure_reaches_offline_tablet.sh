#!/usr/bin/env bash
# `turfctl participant erase` (GDPR): the participant's fields and
# check-ins leave the server and its op log; a connected tablet purges its
# copy at once; a tablet that was offline at the time purges its copy —
# and the check-in it recorded offline — when it comes back; a tablet
# enrolled afterwards never sees them. No copy of the name is left in any
# of the files (server: after checkpoint and VACUUM).
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

NAME="Wilhelmina Zeldzaamnaam"   # appears nowhere else
# has_name FILE... — whether any of the (existing) files holds the name.
has_name() {
  local f
  for f in "$@"; do
    if [ -e "$f" ] && grep -aq "$NAME" "$f"; then return 0; fi
  done
  return 1
}
# no_name FILE... — fails when any of the files holds the name.
no_name() {
  local f
  for f in "$@"; do
    if has_name "$f"; then fail "$(basename "$f") still holds the name"; fi
  done
}

turf_server_start
tablet_enroll online
tablet_enroll offline
session=$(tablet online sessions | head -n1 | cut -f1)
other=$(tablet online sessions | sed -n 2p | cut -f1)
id=$(tablet online walkin "$session" "$NAME" --referral "huisarts")
tablet online sync >/dev/null
tablet offline sync >/dev/null
tablet offline people | grep -q "$NAME" || fail "the offline tablet never had the participant"
# The search below must be able to find the name where it is.
has_name "$TURF_DB" "$TURF_DB-wal" || fail "control: name not in the server's files"
has_name "$TURF_TMP/offline.db" "$TURF_TMP/offline.db-wal" || fail "control: not in the tablet's"
# Offline from here on, it checks them in to another session.
tablet offline checkin "$other" "$NAME" >/dev/null
[ "$(tablet offline outbox)" = 1 ] || fail "the offline check-in is not queued"

# Subject access request first: the export holds what the server has.
turfctl participant export --org 1 --out "$TURF_TMP/export.json" "$id" >/dev/null
python3 - "$TURF_TMP/export.json" "$NAME" "$id" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["participant"] == sys.argv[3], doc
assert doc["participants"][0]["name"] == sys.argv[2], doc
assert doc["participants"][0]["referral"] == "huisarts", doc
assert len(doc["checkins"]) == 1 and doc["checkins"][0]["status"] == "present", doc
PY

# The online tablet listens live while the participant is erased.
"$TURF_TABLET" --db "$TURF_TMP/online.db" watch --for 60 >"$TURF_TMP/watch.out" 2>"$TURF_TMP/watch.err" &
watcher=$!
wait_until 10 device_online "$(tablet_meta online device)"
sleep 0.3
out=$(turfctl participant erase --org 1 "$id") || fail "erase failed: $out"
grep -q "^erased $id" <<<"$out" || fail "erase said: $out"
live_erasure() { grep -q "^live [0-9]* erasure $id" "$TURF_TMP/watch.out"; }
wait_until 10 live_erasure
sleep 0.3 # the page is applied and the file checkpointed before the line prints; be generous
tablet online people | grep -q "$NAME" && fail "the connected tablet still lists the participant"
no_name "$TURF_TMP/online.db" "$TURF_TMP/online.db-wal"
kill -TERM "$watcher"
wait "$watcher" || fail "watch exited $?"

# Server: nothing of theirs in the tables or the log.
[ "$(sql "select count(*) from participants where id='$id'")" = 0 ] || fail "participant row"
[ "$(sql "select count(*) from checkins where participant='$id'")" = 0 ] || fail "check-ins"
[ "$(sql "select count(*) from ops where rtype in (4, 5) and (k='$id' or k2='$id')")" = 0 ] ||
  fail "ops still name them"
[ "$(sql "select count(*) from ops where rtype = 9 and k='$id'")" -ge 2 ] || fail "no erasure ops"
no_name "$TURF_DB" "$TURF_DB-wal"

# The offline tablet comes back: its check-in is refused as ERASED, and
# its copy of the participant goes.
tablet offline sync >"$TURF_TMP/offline.out" 2>&1 || fail "sync: $(cat "$TURF_TMP/offline.out")"
grep -q "rejected 1" "$TURF_TMP/offline.out" || fail "offline sync: $(cat "$TURF_TMP/offline.out")"
tablet offline attention | grep -q "ERASED" || fail "no ERASED rejection in attention"
tablet offline people | grep -q "$NAME" && fail "the offline tablet still lists the participant"
no_name "$TURF_TMP/offline.db" "$TURF_TMP/offline.db-wal"
[ "$(sql "select count(*) from rejected_ops where device='$(tablet_meta offline device)' and fields is not null and code = 24")" = 0 ] ||
  fail "the refused op's fields were kept"
diff <(tablet online dump) <(tablet offline dump) >/dev/null || fail "tablets differ after erasure"

# A tablet enrolled afterwards pulls the whole log and never sees them.
tablet_enroll newcomer
tablet newcomer people | grep -q "$NAME" && fail "a new tablet received the participant"
no_name "$TURF_TMP/newcomer.db" "$TURF_TMP/newcomer.db-wal"

# And after a checkpoint and VACUUM with turfd stopped, the server file is clean.
turf_server_stop
sqlite3 "$TURF_DB" "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;" >/dev/null
no_name "$TURF_DB" "$TURF_DB-wal"
echo "ok - erasure reaches every tablet, offline ones included, and leaves no copy"
