#!/usr/bin/env bash
# Enrolment codes from `turfctl enroll`: one use by default (a second
# tablet with the same code is refused), expire after --ttl, allow --uses
# enrolments; the QR code (terminal and PNG) holds what the text says, and
# the server keeps only a hash of the token the tablet gets.
source "$TURF_TEST_LIB/lib.sh"
source "$TURF_TEST_LIB/access_lib.sh"

# enrol NAME CODE — enrols tablet NAME; its output goes to NAME.enroll.
enrol() {
  "$TURF_TABLET" --db "$TURF_TMP/$1.db" enroll --server "$TURF_URL" --code "$2" --name "$1" \
    >"$TURF_TMP/$1.enroll" 2>&1
}

turf_server_start
code=$(enroll_code --org 1)
[[ "$code" =~ ^[A-Z2-9]{8}$ ]] || fail "unexpected code '$code'"

enrol first "$code" || fail "a fresh code was refused: $(cat "$TURF_TMP/first.enroll")"
if enrol second "$code"; then fail "a one-time code enrolled a second tablet"; fi
grep -q "BAD_CREDENTIALS" "$TURF_TMP/second.enroll" || fail "second: $(cat "$TURF_TMP/second.enroll")"
[ "$(sql "select uses_left from enroll_codes where code='$code'")" = 0 ] || fail "use not counted"

# The token: long, random, and only its hash on the server.
token=$(tablet_meta first token)
[ "${#token}" = 64 ] || fail "token of ${#token} characters"
dev=$(tablet_meta first device)
hash=$(sql "select token_hash from devices where id='$dev'")
[ "$hash" = "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)" ] || fail "stored '$hash'"
[ "$(sql "select count(*) from devices where token_hash = '$token'")" = 0 ] || fail "token kept"
if grep -aq "$token" "$TURF_DB" "$TURF_DB-wal" 2>/dev/null; then fail "token in the database file"; fi

# Expiry.
short=$(enroll_code --org 1 --ttl 1)
sleep 2
if enrol late "$short"; then fail "an expired code enrolled a tablet"; fi
grep -q "BAD_CREDENTIALS" "$TURF_TMP/late.enroll" || fail "late: $(cat "$TURF_TMP/late.enroll")"

# Several uses.
multi=$(enroll_code --org 1 --uses 2)
enrol m1 "$multi" || fail "use 1 of 2 refused"
enrol m2 "$multi" || fail "use 2 of 2 refused"
if enrol m3 "$multi"; then fail "a code for 2 enrolled 3"; fi

# QR code as PNG (decoded by zbar) holds the tablet app's link with a
# working code: --server names turfd by its ws:// address, the link by http.
turfctl enroll --org 1 --server "$TURF_URL" --png "$TURF_TMP/code.png" >"$TURF_TMP/qr.out"
pngcode=$(awk '$1=="code"{print $2}' "$TURF_TMP/qr.out")
decoded=$(zbarimg -q --raw "$TURF_TMP/code.png" 2>/dev/null)
want="http://${TURF_URL#ws://}/tablet/#enrol=$pngcode"
[ "$decoded" = "$want" ] || fail "PNG QR holds '$decoded', want '$want'"
grep -qxF "tablet link $want" "$TURF_TMP/qr.out" || fail "the link is not printed as text"
enrol fromqr "${decoded##*enrol=}" || fail "the code from the QR was refused"
# A public https address goes into the link as it is; a URL that is none is refused.
turfctl enroll --org 1 --server https://turf.example.org/ --no-qr >"$TURF_TMP/https.out"
grep -q '^tablet link https://turf.example.org/tablet/#enrol=[A-Z0-9]*$' "$TURF_TMP/https.out" ||
  fail "https link: $(cat "$TURF_TMP/https.out")"
if turfctl enroll --org 1 --server turf.example.org --no-qr >/dev/null 2>&1; then
  fail "a --server that is no URL was taken"
fi

# The terminal QR code, turned back into a picture, holds the same.
python3 - "$TURF_TMP/qr.out" "$TURF_TMP/term.pbm" <<'PY'
import sys
blocks = {" ": (1, 1), "\u2580": (0, 1), "\u2584": (1, 0), "\u2588": (0, 0)}  # 1 = dark
rows = []
for line in open(sys.argv[1], encoding="utf-8").read().split("\n"):
    if line and set(line) <= set(blocks):
        rows.append([blocks[c][0] for c in line])
        rows.append([blocks[c][1] for c in line])
assert rows, "no QR code in the output"
scale = 6
with open(sys.argv[2], "w") as f:
    f.write(f"P1\n{len(rows[0]) * scale} {len(rows) * scale}\n")
    for r in rows:
        line = " ".join(str(v) for v in r for _ in range(scale))
        f.write((line + "\n") * scale)
PY
[ "$(zbarimg -q --raw "$TURF_TMP/term.pbm" 2>/dev/null)" = "$want" ] || fail "terminal QR differs"

# Codes are per organisation: one for another organisation enrols there.
org2=$(turfctl org create "Tweede Stichting")
other=$(enroll_code --org "$org2")
enrol elsewhere "$other" || fail "second organisation's code refused"
grep -q "enrolled .* in Tweede Stichting" "$TURF_TMP/elsewhere.enroll" || fail "wrong organisation"
turf_server_stop
echo "ok - enrolment codes are single use, expire, and match their QR codes"
