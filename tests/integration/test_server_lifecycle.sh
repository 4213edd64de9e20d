#!/usr/bin/env bash
# turfd answers --help, serves /healthz on its websocket port, refuses bad
# flags, and stops with status 0 on SIGTERM and on SIGINT.
source "$TURF_TEST_LIB/lib.sh"

help=$("$TURFD" --help)
for flag in --listen --port --db --log-level --max-frame-bytes --hello-timeout; do
  echo "$help" | grep -q -- "$flag" || fail "--help does not list $flag"
done
echo "$help" | grep -q TURF_DB || fail "--help does not name environment variables"
for line in "'url " "'dashboard " "'code " "'login " "'password "; do
  echo "$help" | grep -q -- "$line" || fail "--help does not say --ready-file writes $line"
done
if "$TURFD" --port notaport 2>/dev/null; then fail "accepted --port notaport"; fi
if "$TURFD" --log-level loud 2>/dev/null; then fail "accepted --log-level loud"; fi

turf_server_start
health=$(python3 -c "import urllib.request,sys; print(urllib.request.urlopen('http://127.0.0.1:$TURF_PORT/healthz', timeout=5).read().decode())")
echo "$health" | grep -q '"status":"ok"' || fail "healthz said: $health"
status=$(python3 -c "
import urllib.request, urllib.error
try:
    urllib.request.urlopen('http://127.0.0.1:$TURF_PORT/nothing-here', timeout=5)
    print(200)
except urllib.error.HTTPError as e:
    print(e.code)")
[ "$status" = 404 ] || fail "unknown path answered $status"

tablet_enroll a
turf_server_stop
grep -q "stopped" "$TURF_TMP/turfd.log" || fail "no 'stopped' line in the log"

# Environment variables configure it as the flags do.
TURF_LOG_LEVEL=debug turf_server_start
kill -INT "$TURF_PID"
wait "$TURF_PID" || fail "turfd exited $? on SIGINT"
TURF_PID=
grep -q " debug " "$TURF_TMP/turfd.log" || fail "TURF_LOG_LEVEL=debug had no effect"
echo "ok - lifecycle"
