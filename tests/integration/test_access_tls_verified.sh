#!/usr/bin/env bash
# With --tls-cert/--tls-key turfd serves wss:// and https:// only; the
# sample client verifies the server's certificate against --ca and the
# URL's host name, and refuses a certificate from another CA or for
# another name before saying hello. The certificates are made here.
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

pki="$TURF_TMP/pki"
mkdir -p "$pki"
make_ca "$pki" turf-ca
make_ca "$pki" other-ca
make_cert "$pki" server turf-ca "DNS:localhost,IP:127.0.0.1"
make_cert "$pki" misnamed turf-ca "DNS:turf.example.org"

turf_server_start --tls-cert "$pki/server.pem" --tls-key "$pki/server.key"
[[ "$TURF_URL" == wss://* ]] || fail "ready file says $TURF_URL"
wss="wss://localhost:$TURF_PORT"

# enrol NAME URL [turf-tablet options...] — output in NAME.out.
enrol() {
  local name=$1 url=$2
  shift 2
  "$TURF_TABLET" --db "$TURF_TMP/$name.db" "$@" enroll --server "$url" --code "$TURF_CODE" \
    --name "$name" >"$TURF_TMP/$name.out" 2>&1
}
devices() { sql "select count(*) from devices where token_hash is not null"; }

enrol good "$wss" --ca "$pki/turf-ca.pem" || fail "wss with the right CA: $(cat "$TURF_TMP/good.out")"
enrol byip "wss://127.0.0.1:$TURF_PORT" --ca "$pki/turf-ca.pem" ||
  fail "wss to the IP in the certificate: $(cat "$TURF_TMP/byip.out")"
TURF_TABLET_CA="$pki/turf-ca.pem" tablet good checkin \
  "$(tablet good sessions | head -n1 | cut -f1)" "$(tablet good people | head -n1 | cut -f1)" >/dev/null
TURF_TABLET_CA="$pki/turf-ca.pem" tablet good sync >/dev/null || fail "sync over wss"
[ "$(devices)" = 2 ] || fail "expected 2 devices, found $(devices)"

if enrol wrongca "$wss" --ca "$pki/other-ca.pem"; then fail "a certificate from another CA was accepted"; fi
grep -qi "ssl\|certificate" "$TURF_TMP/wrongca.out" || fail "wrong CA: $(cat "$TURF_TMP/wrongca.out")"
if enrol noca "$wss"; then fail "a certificate no system CA signed was accepted"; fi
if enrol plain "ws://localhost:$TURF_PORT"; then fail "plain ws:// reached a TLS server"; fi
[ "$(devices)" = 2 ] || fail "a refused client still said hello"

code=$(program_clock curl -s -o /dev/null -w '%{http_code}' --cacert "$pki/turf-ca.pem" "https://localhost:$TURF_PORT/healthz")
[ "$code" = 200 ] || fail "https healthz answered $code"
if program_clock curl -s -o /dev/null --cacert "$pki/other-ca.pem" "https://localhost:$TURF_PORT/healthz"; then
  fail "curl trusted a certificate from another CA"
fi
turf_server_stop

# The right CA but a certificate for another name: refused too.
turf_server_start --tls-cert "$pki/misnamed.pem" --tls-key "$pki/misnamed.key"
if enrol misnamed "wss://localhost:$TURF_PORT" --ca "$pki/turf-ca.pem"; then
  fail "a certificate for another host name was accepted"
fi
grep -qi "mismatch\|ssl" "$TURF_TMP/misnamed.out" || fail "misnamed: $(cat "$TURF_TMP/misnamed.out")"
turf_server_stop

# A key that does not load stops turfd at start, with a message.
if "$TURFD" --port 0 --db "$TURF_TMP/x.db" --tls-cert "$pki/server.pem" \
  --tls-key "$pki/missing.key" >/dev/null 2>"$TURF_TMP/badkey.log"; then
  fail "turfd started without its TLS key"
fi
"$TURFD" --port 0 --db "$TURF_TMP/y.db" --tls-cert "$pki/server.pem" >/dev/null 2>&1 &&
  fail "--tls-cert without --tls-key was accepted"
echo "ok - wss with certificate verification"
