# access_lib.sh — helpers for the access-control tests (test_access_*.sh),
# sourced after lib.sh: turfctl on the test's server database, waiting for
# a condition, and reading a tablet file's meta.
: "${TURFCTL:?TURFCTL must point to the turfctl binary}"

# turfctl ARGS... — on the test server's database (and its admin socket).
turfctl() { "$TURFCTL" --db "$TURF_DB" "$@"; }

# wait_until SECONDS COMMAND... — polls COMMAND every 0.1 s (a command or a
# function: $(...) in its arguments would be expanded only once); fails the
# test when it has not succeeded in time.
wait_until() {
  local limit=$1 i
  shift
  for i in $(seq 1 $((limit * 10))); do
    "$@" && return 0
    sleep 0.1
  done
  fail "timed out after ${limit}s waiting for: $*"
}

# tablet_meta NAME KEY — a value from tablet NAME's meta table.
tablet_meta() { sqlite3 -batch -noheader "$TURF_TMP/$1.db" "select v from meta where k='$2'"; }

# enroll_code ARGS... — issues a code with `turfctl enroll ARGS --no-qr`
# and prints it.
enroll_code() { turfctl enroll "$@" --no-qr | awk '$1=="code"{print $2}'; }

# device_online ID — whether the server shows device ID connected.
device_online() { [ "$(sql "select online from devices where id='$1'")" = 1 ]; }

# make_cert DIR NAME CA SUBJECT_ALT_NAMES — a key and a certificate signed
# by CA (DIR/CA.pem, DIR/CA.key), valid one day, for server authentication.
make_cert() {
  local dir=$1 name=$2 ca=$3 san=$4
  openssl req -newkey rsa:2048 -nodes -keyout "$dir/$name.key" -out "$dir/$name.csr" \
    -subj "/CN=$name" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san" \
    >"$dir/$name.ext"
  program_clock openssl x509 -req -in "$dir/$name.csr" -CA "$dir/$ca.pem" -CAkey "$dir/$ca.key" \
    -CAcreateserial -out "$dir/$name.pem" -days 1 -extfile "$dir/$name.ext" 2>/dev/null
}

# make_ca DIR NAME — a self-signed CA valid one day.
make_ca() {
  program_clock openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/$2.key" -out "$1/$2.pem" -days 1 \
    -subj "/CN=$2" 2>/dev/null
}
