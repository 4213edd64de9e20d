#!/usr/bin/env bash
# Ten simulated tablets record 50 random, overlapping ops each while offline,
# then all connect at once: every op reaches the server once and every
# tablet ends with the same replica.
source "$TURF_TEST_LIB/lib.sh"

turf_server_start
mkdir "$TURF_TMP/sim"
out=$("$TURF_TABLET" sim --server "$TURF_URL" --code "$TURF_CODE" --tablets 10 --ops 50 \
  --dir "$TURF_TMP/sim" --seed 42) || fail "sim failed: $out"
note "$out"
echo "$out" | grep -q "^sim: tablets 10 ops 500 acked 500 rejected 0 converged yes seconds " ||
  fail "unexpected summary: $out"
[ "$(sql "select count(*) from ops where device in (select id from devices where name like 'sim-%')")" -eq 500 ] ||
  fail "the server does not hold exactly the 500 simulated ops"
# A fresh tablet pulling everything agrees with the simulated ones.
tablet_enroll fresh
diff <(tablet fresh dump) <("$TURF_TABLET" --db "$TURF_TMP/sim/sim-1.db" dump) ||
  fail "a fresh tablet differs from the simulated ones"
turf_server_stop
echo "ok - sim converges"
