#!/usr/bin/env bash
# Coordinators log in to the dashboard with a password kept as a salted
# yescrypt hash: a wrong password, an unknown login and a disabled account
# get 401; the right one gets a session cookie that is HttpOnly and
# SameSite=Strict (and, under TLS, Secure with the __Host- prefix); the
# cookie identifies them until logout, after which it opens nothing.
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

PASSWORD="paard batterij nietje"
turf_server_start
printf '%s\n' "$PASSWORD" | turfctl coordinator create --org 1 --login anna --name "Anna de Vries" >/dev/null
printf '%s\n' "viewer password 1" | turfctl coordinator create --org 1 --login kijker --role viewer >/dev/null
printf '%s\n' "short" | turfctl coordinator create --org 1 --login kort >/dev/null 2>&1 &&
  fail "a 5-byte password was accepted"
hash=$(sql "select password_hash from coordinators where login='anna'")
[[ "$hash" == '$y$'* ]] || fail "not a yescrypt hash: $hash"
other=$(sql "select password_hash from coordinators where login='kijker'")
[ "${hash:0:29}" != "${other:0:29}" ] || fail "two accounts share a salt"
grep -aq "$PASSWORD" "$TURF_DB" "$TURF_DB-wal" 2>/dev/null && fail "the password is in the database"

base="http://127.0.0.1:$TURF_PORT"
# login JAR LOGIN PASSWORD — POSTs the form; prints the status, keeps headers.
login() {
  curl -s -o /dev/null -D "$TURF_TMP/$1.headers" -c "$TURF_TMP/$1.jar" -w '%{http_code}' \
    --data-urlencode "login=$2" --data-urlencode "password=$3" "$base/auth/login"
}
me() { curl -s -b "$TURF_TMP/$1.jar" -w '\n%{http_code}' "$base/auth/me"; }

[ "$(login wrong anna "not the password")" = 401 ] || fail "wrong password not refused"
[ "$(login nobody nemo "$PASSWORD")" = 401 ] || fail "unknown login not refused"
grep -qi '^set-cookie' "$TURF_TMP/wrong.headers" && fail "a refused login set a cookie"

[ "$(login anna anna "$PASSWORD")" = 303 ] || fail "right password refused"
cookie=$(grep -i '^set-cookie:' "$TURF_TMP/anna.headers" | tr -d '\r')
note "$cookie"
[[ "$cookie" =~ turf_session=[0-9a-f]{64}\; ]] || fail "no session token in: $cookie"
for flag in "HttpOnly" "SameSite=Strict" "Path=/"; do
  grep -q "; $flag" <<<"$cookie" || fail "cookie lacks $flag: $cookie"
done
grep -q "Secure" <<<"$cookie" && fail "Secure on a plain http cookie: $cookie"
grep -qi '^location: /' "$TURF_TMP/anna.headers" || fail "no redirect to the dashboard"
token=$(sed -E 's/.*turf_session=([0-9a-f]{64}).*/\1/' <<<"$cookie")
grep -aq "$token" "$TURF_DB" "$TURF_DB-wal" 2>/dev/null && fail "the session token is in the database"

out=$(me anna)
[ "$(tail -n1 <<<"$out")" = 200 ] || fail "/auth/me with the cookie: $out"
grep -q '"login":"anna","name":"Anna de Vries","org":1,"role":"coordinator"' <<<"$out" || fail "/auth/me said $out"
[ "$(login viewer kijker "viewer password 1")" = 303 ] || fail "viewer refused"
me viewer | grep -q '"role":"viewer"' || fail "viewer's role"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$base/auth/me")" = 401 ] || fail "/auth/me without cookie"
[ "$(curl -s -o /dev/null -w '%{http_code}' -b "turf_session=$(printf '0%.0s' {1..64})" \
  "$base/auth/me")" = 401 ] || fail "a made-up cookie was accepted"
# JSON clients get JSON.
json=$(curl -s -H 'Accept: application/json' --data-urlencode "login=anna" \
  --data-urlencode "password=$PASSWORD" -w ' %{http_code}' "$base/auth/login")
[[ "$json" == '{"login":"anna"'*' 200' ]] || fail "JSON login: $json"
# Another site's page cannot log anyone in (or out).
[ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Origin: http://elders.example' \
  --data-urlencode "login=anna" --data-urlencode "password=$PASSWORD" "$base/auth/login")" = 403 ] ||
  fail "cross-site login not refused"

# Logout ends the session on the server: the same cookie opens nothing.
code=$(curl -s -o /dev/null -D "$TURF_TMP/logout.headers" -w '%{http_code}' -X POST \
  -b "$TURF_TMP/anna.jar" "$base/auth/logout")
[ "$code" = 303 ] || fail "logout answered $code"
grep -qi '^set-cookie: turf_session=; .*Max-Age=0' "$TURF_TMP/logout.headers" ||
  fail "logout did not clear the cookie: $(cat "$TURF_TMP/logout.headers")"
[ "$(me anna | tail -n1)" = 401 ] || fail "the cookie still works after logout"
me viewer | grep -q '"role":"viewer"' || fail "logout ended someone else's session"

# Disabling an account ends its sessions at once and refuses its logins.
viewer_out() { [ "$(me viewer | tail -n1)" = 401 ]; }
turfctl coordinator disable kijker >/dev/null
wait_until 5 viewer_out
[ "$(login again kijker "viewer password 1")" = 401 ] || fail "disabled account logged in"
turfctl coordinator list | grep -q "kijker.*disabled" || fail "list does not show it disabled"
# So does a new password; the old one stops working, the new one works.
[ "$(login anna2 anna "$PASSWORD")" = 303 ] || fail "login before the password change"
anna_out() { [ "$(me anna2 | tail -n1)" = 401 ]; }
printf '%s\n' "een nieuw wachtwoord" | turfctl coordinator passwd anna >/dev/null
wait_until 5 anna_out
[ "$(login old anna "$PASSWORD")" = 401 ] || fail "the old password still works"
[ "$(login new anna "een nieuw wachtwoord")" = 303 ] || fail "the new password does not work"
PASSWORD="een nieuw wachtwoord"
turf_server_stop

# Under TLS the cookie is Secure and __Host- prefixed.
pki="$TURF_TMP/pki"
mkdir -p "$pki"
make_ca "$pki" ca
make_cert "$pki" server ca "DNS:localhost,IP:127.0.0.1"
turf_server_start --tls-cert "$pki/server.pem" --tls-key "$pki/server.key"
cookie=$(program_clock curl -s -o /dev/null -D - --cacert "$pki/ca.pem" --data-urlencode "login=anna" \
  --data-urlencode "password=$PASSWORD" "https://localhost:$TURF_PORT/auth/login" |
  grep -i '^set-cookie:' | tr -d '\r')
note "$cookie"
[[ "$cookie" =~ __Host-turf_session=[0-9a-f]{64}\; ]] || fail "TLS cookie: $cookie"
for flag in "HttpOnly" "SameSite=Strict" "Secure"; do
  grep -q "; $flag" <<<"$cookie" || fail "TLS cookie lacks $flag: $cookie"
done
tls="https://localhost:$TURF_PORT"
program_clock curl -s -o /dev/null --cacert "$pki/ca.pem" -c "$TURF_TMP/tls.jar" --data-urlencode "login=anna" \
  --data-urlencode "password=$PASSWORD" "$tls/auth/login"
program_clock curl -s --cacert "$pki/ca.pem" -b "$TURF_TMP/tls.jar" "$tls/auth/me" | grep -q '"login":"anna"' ||
  fail "/auth/me over https"
[ "$(program_clock curl -s -o /dev/null -w '%{http_code}' --cacert "$pki/ca.pem" -X POST -b "$TURF_TMP/tls.jar" \
  "$tls/auth/logout")" = 303 ] || fail "logout over https"
[ "$(program_clock curl -s -o /dev/null -w '%{http_code}' --cacert "$pki/ca.pem" -b "$TURF_TMP/tls.jar" \
  "$tls/auth/me")" = 401 ] || fail "the TLS cookie works after logout"
turf_server_stop
echo "ok - login, cookie flags and logout"
