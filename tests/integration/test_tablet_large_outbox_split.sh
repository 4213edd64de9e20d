#!/usr/bin/env bash
# An outbox too big for one frame (300 messages of 4 kB, 1.2 MB) is sent
# in batches that each fit the 1 MiB frame limit, and all of it arrives.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
tablet_enroll a
tablet_enroll b
activity=$(tablet a sessions | head -n1 | cut -f3)
turf_server_stop

body=$(head -c 4000 /dev/zero | tr '\0' 'x')
for i in $(seq 1 300); do
  tablet a post "$activity" "$i $body" >/dev/null
done
[ "$(tablet a outbox)" -eq 300 ] || fail "expected 300 ops in the outbox"

turf_server_start
out=$(tablet a sync --timeout 60)
note "$out"
echo "$out" | grep -q "acked 300 rejected 0" || fail "not everything acked: $out"
[ "$(sql "select count(*) from messages where length(body) > 4000")" -eq 300 ] ||
  fail "the server holds $(sql "select count(*) from messages where length(body) > 4000") of 300 messages"
tablet b sync --timeout 60 >/dev/null
[ "$(tablet b messages "$activity" | wc -l)" -eq 300 ] || fail "tablet b did not receive all messages"
diff <(tablet a dump) <(tablet b dump) || fail "tablets differ"
turf_server_stop
echo "ok - a large outbox is split into frames that fit"
