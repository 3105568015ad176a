#!/bin/bash
# 01-check: the command-line contract. --check (-t) exits 0 on a valid file and 1 with every
# error as FILE:LINE:COLUMN: message on a bad one; --help/--version exit 0; a usage error exits 2;
# a start-up failure (the listen port is taken) exits 3.
. "$(dirname "$0")/lib.sh"

[ -x "$BLOKIR" ] || bail "no blokir binary at $BLOKIR (run make first)"

# check FILE: runs --check, sets CK_OUT (stderr+stdout) and CK_ST.
check() {
	CK_OUT=$(timeout $((10 * SLOW)) $BLOKIR_WRAPPER "$BLOKIR" -c "$1" --check 2>&1)
	CK_ST=$?
}

# has_line TEXT EXACT-PREFIX ERE DESCRIPTION: some line of TEXT starts with EXACT-PREFIX and its
# remainder matches ERE (case-insensitively).
has_line() {
	local text=$1 prefix=$2 re=$3 desc=$4 l
	while IFS= read -r l; do
		if [[ "$l" == "$prefix"* ]] && grep -Eqi -- "$re" <<<"${l#"$prefix"}"; then
			pass "$desc"; return 0
		fi
	done <<<"$text"
	fail "$desc"; diag "expected a line starting '$prefix' matching /$re/, got:" "$text"
	return 1
}

P=$(free_port)
U=$(free_port)

# --- a valid file ----------------------------------------------------------------------------------
good="$T_TMP/good.yaml"
write_policy "$good" "$P" "127.0.0.1:$U" 'default-action: nxdomain' 'tcp-idle-timeout-ms: 5000' \
	'max-tcp-connections: 64' 'max-inflight: 1024' 'soa-mname: ns.blokir.test.' \
	'soa-rname: hostmaster.blokir.test.'
cat >>"$good" <<'END'
  - name: example.org
    enabled: false
    action: refused
    exact: true
    ref: "https://example.org/order"
  - name: Nodata.Example.NET.
    action: nodata
  - name: drop.example
    action: drop
  - name: ok.t.me
    action: allow
END
check "$good"
is "$CK_ST" 0 "--check exits 0 on a valid file" || diag "$CK_OUT"
unlike "$CK_OUT" "$good:[0-9]+:" "--check prints no FILE:LINE errors on a valid file"
CK_OUT=$(timeout 10 "$BLOKIR" -c "$good" -t 2>&1); CK_ST=$?
is "$CK_ST" 0 "-t is --check"

check policy/telegram-2017.yaml
is "$CK_ST" 0 "the bundled policy/telegram-2017.yaml passes --check" || diag "$CK_OUT"

# --- unknown keys (top level and in a domain entry), all reported in one run --------------------
f="$T_TMP/unknown-key.yaml"
cat >"$f" <<END
listen: ["127.0.0.1:$P"]
upstreams: ["127.0.0.1:$U"]
colour: blue
domains:
  - name: t.me
    enabled: true
    flavour: strawberry
END
check "$f"
is "$CK_ST" 1 "unknown key: --check exits 1"
has_line "$CK_OUT" "$f:3:1: " "colour" "unknown top-level key reported at $f:3:1 naming it"
has_line "$CK_OUT" "$f:7:5: " "flavour" "unknown domain key reported at $f:7:5 naming it (same run)"

# --- bad names ----------------------------------------------------------------------------------
long=$(printf 'a%.0s' {1..64})
f="$T_TMP/bad-name.yaml"
cat >"$f" <<END
listen: ["127.0.0.1:$P"]
upstreams: ["127.0.0.1:$U"]
domains:
  - name: bad..name
  - name: $long.example
  - name: good.example
  - name: "under score!.example"
END
check "$f"
is "$CK_ST" 1 "bad names: --check exits 1"
has_line "$CK_OUT" "$f:4:11: " "." "empty label reported at $f:4:11"
has_line "$CK_OUT" "$f:5:11: " "63|long" "64-octet label reported at $f:5:11 (mentions the limit)"
has_line "$CK_OUT" "$f:7:11: " "." "invalid characters reported at $f:7:11"
n=$(grep -c "^$f:[0-9]*:[0-9]*: " <<<"$CK_OUT")
is "$n" 3 "exactly three errors, one per bad name (good.example is fine)" || diag "$CK_OUT"

# --- a duplicate name, case and trailing dot normalized: both lines named ------------------------
f="$T_TMP/duplicate.yaml"
cat >"$f" <<END
listen: ["127.0.0.1:$P"]
upstreams: ["127.0.0.1:$U"]
domains:
  - name: t.me
    reason: first
  - name: telegram.org
  - name: T.ME.
    reason: second
END
check "$f"
is "$CK_ST" 1 "duplicate name: --check exits 1"
if grep -Eq "^$f:7:11: .*\b4\b" <<<"$CK_OUT" || grep -Eq "^$f:4:11: .*\b7\b" <<<"$CK_OUT"; then
	pass "duplicate reported as FILE:LINE:COLUMN naming both lines (4 and 7)"
else
	fail "duplicate reported as FILE:LINE:COLUMN naming both lines (4 and 7)"
	diag "expected '$f:7:11: ... 4 ...' (or 4:11 naming 7), got:" "$CK_OUT"
fi

# --- YAML syntax error: libyaml's problem position ------------------------------------------------
f="$T_TMP/syntax.yaml"
cat >"$f" <<END
listen: ["127.0.0.1:$P"]
domains:
  - name: t.me
   enabled: true
END
check "$f"
is "$CK_ST" 1 "YAML syntax error: --check exits 1"
has_line "$CK_OUT" "$f:4:4: " "." "YAML syntax error reported at $f:4:4 (libyaml's problem mark)"

# --- bad values -----------------------------------------------------------------------------------
f="$T_TMP/bad-values.yaml"
cat >"$f" <<END
listen: ["127.0.0.1:$P"]
upstreams: ["127.0.0.1:$U"]
negative-ttl: -5
upstream-timeout-ms: lots
domains:
  - name: t.me
    enabled: maybe
    action: block
END
check "$f"
is "$CK_ST" 1 "bad values: --check exits 1"
has_line "$CK_OUT" "$f:3:15: " "." "negative-ttl -5 reported at $f:3:15"
has_line "$CK_OUT" "$f:4:22: " "." "upstream-timeout-ms 'lots' reported at $f:4:22"
has_line "$CK_OUT" "$f:7:14: " "." "enabled 'maybe' reported at $f:7:14"
has_line "$CK_OUT" "$f:8:13: " "nxdomain|nodata|refused|drop|allow" \
	"action 'block' reported at $f:8:13, saying what was expected"

f="$T_TMP/bad-endpoint.yaml"
cat >"$f" <<END
listen: ["127.0.0.1:99999"]
upstreams: ["not-an-address"]
domains:
  - name: t.me
END
check "$f"
is "$CK_ST" 1 "bad endpoints: --check exits 1"
has_line "$CK_OUT" "$f:1:10: " "." "listen port 99999 reported at $f:1:10"
has_line "$CK_OUT" "$f:2:13: " "." "upstream 'not-an-address' reported at $f:2:13"

check "$T_TMP/does-not-exist.yaml"
is "$CK_ST" 1 "a missing file: --check exits 1"
like "$CK_OUT" "does-not-exist.yaml" "a missing file: the message names the file"

# --- usage ----------------------------------------------------------------------------------------
out=$(timeout 10 "$BLOKIR" --help 2>&1); st=$?
is "$st" 0 "--help exits 0"
like "$out" "--check" "--help describes the options"
out=$(timeout 10 "$BLOKIR" --version 2>&1); st=$?
is "$st" 0 "--version exits 0"
like "$out" "[0-9]+\.[0-9]+" "--version prints a version number"
out=$(timeout 10 "$BLOKIR" -c "$good" --check --no-such-option 2>&1); st=$?
is "$st" 2 "an unknown option exits 2"
out=$(timeout 10 "$BLOKIR" --check 2>&1); st=$?
like "$out" '^/.*/blokir/blokir\.yaml[: ]' "no -c FILE: the compiled-in default file is read (not a usage error)"
out=$(timeout 10 "$BLOKIR" -c "$good" --check --listen 2>&1); st=$?
is "$st" 2 "--listen without its argument exits 2"

# --- start-up failure: the listen port is already taken -> exit 3 --------------------------------
"$PY" -c '
import socket, sys, time
p = int(sys.argv[1])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", p))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.1", p)); t.listen(1)
print("held", flush=True); time.sleep(60)' "$P" >"$T_TMP/holder.out" 2>&1 &
track $!
wait_for 10 grep -q held "$T_TMP/holder.out"
out=$(timeout $((15 * SLOW)) $BLOKIR_WRAPPER "$BLOKIR" -c "$good" --foreground "${ROOT_OPT[@]}" 2>&1); st=$?
is "$st" 3 "listen port in use: blokir exits 3" || diag "$out"
like "$out" "$P" "the start-up failure is logged naming the port"

done_testing
