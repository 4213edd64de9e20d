# lib.sh — shared helpers for integration tests written in bash. Sourced by
# each test_*.sh; needs TURFD and TURF_TABLET (set by CTest). Starts the real
# turfd on a free loopback port with its own SQLite file in a temporary
# directory that is removed when the test ends, whatever happens.
set -euo pipefail

: "${TURFD:?TURFD must point to the turfd binary}"
: "${TURF_TABLET:?TURF_TABLET must point to the turf-tablet binary}"

TURF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/turf-test.XXXXXX")
TURF_DB="$TURF_TMP/server.db"
TURF_PORT=0
TURF_PID=
TURF_URL=
TURF_CODE=

turf__cleanup() {
  local status=$?
  if [ -n "$TURF_PID" ] && kill -0 "$TURF_PID" 2>/dev/null; then
    kill -9 "$TURF_PID" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$TURF_TMP/turfd.log" ]; then
    echo "---- last lines of turfd.log ----" >&2
    tail -n 40 "$TURF_TMP/turfd.log" >&2 || true
  fi
  rm -rf "$TURF_TMP"
}
trap turf__cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# program_clock CMD... — runs CMD on the clock of the programs under test,
# which scripts/test-clocks may set apart from the test's own (certificates
# are then valid from that clock's today).
program_clock() { "$TURF_TEST_LIB/../with-clock" "$@"; }
# Now (ms) on that clock.
program_now_ms() { program_clock date +%s%3N; }
note() { echo "# $*"; }

# turf_server_start [TURFD FLAGS...] — starts turfd with the demo
# organisation and any extra flags (TLS, limits); sets TURF_URL, TURF_CODE
# and TURF_PORT. A restart reuses the port, so enrolled tablets find it again.
turf_server_start() {
  rm -f "$TURF_TMP/ready"
  "$TURFD" --listen 127.0.0.1 --port "$TURF_PORT" --db "$TURF_DB" --demo --demo-uses 100 \
    --ready-file "$TURF_TMP/ready" --log-level "${TURF_LOG_LEVEL:-info}" "$@" \
    >>"$TURF_TMP/turfd.out" 2>>"$TURF_TMP/turfd.log" &
  TURF_PID=$!
  local i
  for i in $(seq 1 200); do
    [ -f "$TURF_TMP/ready" ] && break
    kill -0 "$TURF_PID" 2>/dev/null || fail "turfd exited during start"
    sleep 0.05
  done
  [ -f "$TURF_TMP/ready" ] || fail "turfd did not become ready in 10 s"
  TURF_URL=$(awk '$1=="url"{print $2}' "$TURF_TMP/ready")
  TURF_CODE=$(awk '$1=="code"{print $2}' "$TURF_TMP/ready")
  TURF_PORT=${TURF_URL##*:}
  export TURF_URL TURF_CODE TURF_PORT
}

# Graceful stop (SIGTERM); fails the test if turfd does not exit 0 within 10 s.
turf_server_stop() {
  kill -TERM "$TURF_PID"
  local i
  for i in $(seq 1 200); do
    kill -0 "$TURF_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$TURF_PID" 2>/dev/null && fail "turfd did not stop within 10 s of SIGTERM"
  wait "$TURF_PID" || fail "turfd exited with status $? on SIGTERM"
  TURF_PID=
}

turf_server_kill9() {
  kill -9 "$TURF_PID"
  wait "$TURF_PID" 2>/dev/null || true
  TURF_PID=
}

# tablet NAME ARGS... — runs turf-tablet on tablet NAME's own file.
tablet() {
  local name=$1
  shift
  "$TURF_TABLET" --db "$TURF_TMP/$name.db" "$@"
}

tablet_enroll() {
  tablet "$1" enroll --server "$TURF_URL" --code "$TURF_CODE" --name "$1" >/dev/null
}

# sqlite3 waits up to 10 s for a lock: tests read files that turfd or a
# tablet is writing, and a read can meet a moment's lock (SQLITE_BUSY: seen
# as "database is locked" in prepare while a tablet opened its file).
sqlite3() { command sqlite3 -cmd ".timeout 10000" "$@"; }

# sql QUERY — runs a query on the server database.
sql() { sqlite3 -batch -noheader "$TURF_DB" "$1"; }
