#!/bin/bash
# 50-ctl: the control socket and `blokir ctl` against a running daemon: status, reload (good and
# bad file), stats (text and --json), flush-cache, reopen-logs, why for the 2017 order (a lifted
# name, a kept name, a name under an allow exception) online and offline with identical output,
# bad commands, the socket's mode and group, and a user outside the group refused.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { skip "needs root (temporary users and groups)" "ctl"; done_testing; exit 0; }

# A group that may use the socket, one user in it and one outside; removed at exit.
TAG=$$
GRP=blkctl$TAG
UIN=blkin$TAG
UOUT=blkout$TAG
del_accounts() {
	userdel "$UIN" 2>/dev/null
	userdel "$UOUT" 2>/dev/null
	groupdel "$GRP" 2>/dev/null
}
trap 'rc=$?; del_accounts; (exit $rc); cleanup' EXIT
groupadd --system "$GRP" || bail "groupadd failed"
useradd --system --no-create-home --shell /usr/sbin/nologin -G "$GRP" "$UIN" || bail "useradd failed"
useradd --system --no-create-home --shell /usr/sbin/nologin "$UOUT" || bail "useradd failed"

# The unprivileged users must reach the socket: the test directory is traversable, not readable.
chmod 0711 "$T_TMP"
mkdir -m 0755 "$T_TMP/run"
SOCK="$T_TMP/run/ctl.sock"

start_nsd || bail "nsd did not start"
BPORT=$(free_port)
CFG="$T_TMP/telegram-2017.yaml"
# The bundled order, on our ports, with the August 2017 lift applied and one allow exception.
sed -e "s|^listen:.*|listen: [\"127.0.0.1:$BPORT\"]\nupstreams: [\"127.0.0.1:$NSD_PORT\"]\nworkers: 2\ncache-size: 1000\ncontrol-socket: $SOCK\ngroup: $GRP|" \
	"$SYSDIR/../../policy/telegram-2017.yaml" >"$CFG"
cat >>"$CFG" <<'EOF'
  - name: ok.t.me
    action: allow
    reason: "not part of the order"
  - name: future.example
    from: 2099-01-01T00:00:00Z
    until: 2099-02-01T00:00:00Z
EOF
for d in telegram.me telegram.org core.telegram.org desktop.telegram.org macos.telegram.org web.telegram.org; do
	set_enabled "$CFG" "$d" false
done
chmod 0644 "$CFG"
"$BLOKIR" -c "$CFG" --check >/dev/null || bail "the test's policy does not pass --check"
start_blokir "$CFG" "$BPORT" || bail "blokir did not start"

ctl() { timeout 20 "$BLOKIR" ctl -s "$SOCK" "$@"; }
line_of() { grep -n -- "- name: $1\$" "$CFG" | head -n1 | cut -d: -f1; }

# --- the socket ----------------------------------------------------------------------------------
is "$(stat -c '%a %G %F' "$SOCK")" "660 $GRP socket" "control-socket is a socket, mode 0660, group $GRP"

# --- status --------------------------------------------------------------------------------------
out=$(ctl status); st=$?
is "$st" 0 "ctl status exits 0"
like "$out" '^version: blokir [0-9]' "  ... version"
like "$out" '^uptime: [0-9]+ s' "  ... uptime"
like "$out" '^policy generation: 0$' "  ... generation 0 at start"
is "$(sed -n 's/^policy sha256: //p' <<<"$out")" "$(sha256sum "$CFG" | cut -d' ' -f1)" "  ... the file's SHA-256"
like "$out" '^policy: 7 enabled entries, 0 list names$' "  ... enabled entries and list names"
like "$out" '^last reload: none since start$' "  ... no reload yet"
like "$out" "^schedule: \"future\\.example\" \\(line $(line_of future.example)\\) inactive, becomes active at 2099-01-01T00:00:00Z\$" \
	"  ... every schedule's next transition"
out=$(timeout 20 "$BLOKIR" ctl -c "$CFG" status); st=$?
is "$st" 0 "ctl -c FILE finds the socket through control-socket:"

# --- why: online and offline ---------------------------------------------------------------------
why_both() { # NAME [ARGS...]: ctl why's and blokir why's output must be identical; sets W to it
	local off
	W=$(ctl why "$@"); off=$("$BLOKIR" why -c "$CFG" "$@")
	if [ "$W" == "$off" ]; then pass "why $*: ctl and offline print the same"; else
		fail "why $*: ctl and offline print the same"; diag "ctl:" "$W" "offline:" "$off"
	fi
}
why_both telegram.org
w=$W
like "$w" '^decision: forwarded$' "lifted telegram.org: decision forwarded"
like "$w" '^no entry covers telegram\.org\.$' "  ... no entry covers telegram.org."
like "$w" "^closest enclosing entry: telegram\\.org at $CFG:$(line_of telegram.org), disabled" \
	"  ... its own disabled entry with file:line"
like "$w" '^answer: forwarded to 127\.0\.0\.1:' "  ... answer: forwarded"
is "$(rcode "$(q "$BPORT" telegram.org A)")" NOERROR "  ... and dig gets the upstream's NOERROR"

why_both venus.web.telegram.org AAAA; w=$W
like "$w" '^query: venus\.web\.telegram\.org\. AAAA$' "kept venus.web.telegram.org AAAA: the query"
like "$w" '^decision: blocked$' "  ... blocked"
like "$w" "^deciding entry: venus\\.web\\.telegram\\.org \\(the name and below\\) at $CFG:$(line_of venus.web.telegram.org)\$" \
	"  ... deciding entry with file:line"
like "$w" '^  action: nxdomain$' "  ... action"
like "$w" '^  reason: Kominfo order, 2017-07-14$' "  ... reason"
like "$w" '^  schedule: none' "  ... schedule state"
like "$w" "^not in force: web\\.telegram\\.org .*:$(line_of web.telegram.org), disabled" "  ... the disabled web.telegram.org shown"
like "$w" '^answer: NXDOMAIN, authority venus\.web\.telegram\.org\. 60 IN SOA blokir\.invalid\. hostmaster\.blokir\.invalid\., EDE 16 \(Censored\) "Kominfo order, 2017-07-14"' \
	"  ... the answer"
is "$(rcode "$(q "$BPORT" venus.web.telegram.org AAAA)")" NXDOMAIN "  ... and dig gets NXDOMAIN"

why_both www.ok.t.me; w=$W
like "$w" '^decision: forwarded \(an allow exception\)$' "www.ok.t.me under the allow exception: forwarded"
like "$w" "^deciding entry: ok\\.t\\.me \\(the name and below\\) at $CFG:$(line_of ok.t.me)\$" "  ... deciding entry ok.t.me"
like "$w" '^  action: allow$' "  ... action allow"
like "$w" "^overrides: t\\.me \\(the name and below\\) at $CFG:$(line_of t.me)\$" "  ... overrides t.me with its line"
like "$w" 'no CNAME-chain inspection' "  ... answer: the upstream's, as it is"
is "$(rcode "$(q "$BPORT" www.ok.t.me A)")" NOERROR "  ... and dig gets NOERROR"

why_both www.future.example; w=$W
like "$w" '^decision: forwarded$' "www.future.example before its schedule: forwarded"
like "$w" 'future\.example .*, outside its schedule$' "  ... its entry is shown outside its schedule"
like "$w" '^  schedule: not yet active, from 2099-01-01T00:00:00Z until 2099-02-01T00:00:00Z$' "  ... with the window"

why_both t.me --client 203.0.113.9; w=$W
like "$w" '^decision: refused, the client is outside allow-from$' "why --client outside allow-from: refused"
why_both t.me --client 127.0.0.1
out=$(ctl why 'bad..name' 2>&1); st=$?
is "$st" 2 "ctl why with a bad name exits 2"
like "$out" 'empty label' "  ... and says why"

# --- stats after a known sequence ----------------------------------------------------------------
# (start_blokir's readiness probe asked for t.me already: count from here)
tme0=$(ctl stats | sed -n 's/^blocked-by-entry "t\.me" //p')
for i in 1 2 3; do q "$BPORT" t.me A >/dev/null; done
q "$BPORT" pluto.web.telegram.org A >/dev/null
out=$(ctl stats); st=$?
is "$st" 0 "ctl stats exits 0"
is "$(sed -n 's/^blocked-by-entry "t\.me" //p' <<<"$out")" $((tme0 + 3)) "  ... t.me blocked 3 more times"
like "$out" '^blocked-by-entry "pluto\.web\.telegram\.org" 1$' "  ... pluto blocked once"
like "$out" '^blocked-by-entry "venus\.web\.telegram\.org" 1$' "  ... venus once (the AAAA above)"
json=$(ctl stats --json)
"$PY" - "$json" $((tme0 + 3)) <<'EOF'
import json, sys
d = json.loads(sys.argv[1])
t = d["total"]
assert len(d["workers"]) == 2, d["workers"]
for k, v in t.items():
    if k.startswith("reloads") or k == "audit-write-failed":  # the daemon's, not a worker's
        continue
    assert v == sum(w[k] for w in d["workers"]), k
assert d["blocked-by-entry"]["t.me"] == int(sys.argv[2]), d["blocked-by-entry"]
assert t["blocked"] >= 5, t
EOF
ok $? "ctl stats --json: valid JSON, per-worker counters sum to the totals, entry counts"

# --- flush-cache ---------------------------------------------------------------------------------
q "$BPORT" www.example.test A >/dev/null
q "$BPORT" www.example.test A >/dev/null
hits0=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["total"]["cache-hits"])' "$(ctl stats --json)")
out=$(ctl flush-cache); st=$?
is "$st" 0 "ctl flush-cache exits 0"
sleep 0.2
q "$BPORT" www.example.test A >/dev/null
hits1=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["total"]["cache-hits"])' "$(ctl stats --json)")
is "$hits1" "$hits0" "  ... the next query is not a cache hit (hits stay $hits0)"

# --- reopen-logs, unknown commands -----------------------------------------------------------------
ctl reopen-logs >/dev/null; is $? 0 "ctl reopen-logs exits 0"
out=$(ctl frobnicate 2>&1); st=$?
is "$st" 2 "an unknown command exits 2"
like "$out" 'commands: status, reload' "  ... listing the commands"

# --- reload: good, then bad ----------------------------------------------------------------------
set_enabled "$CFG" telegram.org true
out=$(ctl reload); st=$?
is "$st" 0 "ctl reload of a good file exits 0"
like "$out" '^reload: summary: 0 added, 0 removed, 1 switched on, 0 switched off' "  ... and prints the summary"
is "$(rcode "$(q "$BPORT" telegram.org A)")" NXDOMAIN "  ... in force when ctl returns (synchronous)"
like "$(ctl status)" '^policy generation: 1$' "  ... generation 1"
like "$(ctl status)" '^last reload: [0-9T:Z-]+ ok: 0 added' "  ... status shows the last reload"
like "$(ctl stats)" "^blocked-by-entry \"t\\.me\" $((tme0 + 3))\$" "  ... per-entry counts survive the reload"

cp "$CFG" "$T_TMP/good.yaml"
printf '  - name: broken..example\n' >>"$CFG"
badline=$(wc -l <"$CFG")
out=$(ctl reload 2>&1 >/dev/null); st=$?
is "$st" 1 "ctl reload of a bad file exits 1"
like "$out" "^$CFG:$badline:11: domains\\[[0-9]+\\]\\.name: empty label" "  ... printing FILE:LINE:COLUMN on stderr"
like "$out" 'the current policy stays in force' "  ... and that the old policy stays"
is "$(rcode "$(q "$BPORT" telegram.org A)")" NXDOMAIN "  ... old policy still answering"
like "$(ctl status)" '^last reload: [0-9T:Z-]+ failed: 1 error' "  ... status shows the failure"
cp "$T_TMP/good.yaml" "$CFG"

# --- who may connect -----------------------------------------------------------------------------
# The unprivileged users run a copy of the client from the test directory: the checkout may sit
# under a directory they cannot search (CI clones into root's home, mode 0700).
CTLBIN="$T_TMP/blokir-ctl"
cp "$BLOKIR" "$CTLBIN" && chmod 0755 "$CTLBIN" || bail "cannot copy $BLOKIR"
out=$(setpriv --reuid="$UIN" --regid="$GRP" --init-groups timeout 20 "$CTLBIN" ctl -s "$SOCK" status 2>&1); st=$?
is "$st" 0 "a member of $GRP may run ctl status"
out=$(setpriv --reuid="$UOUT" --regid="$UOUT" --init-groups timeout 20 "$CTLBIN" ctl -s "$SOCK" status 2>&1); st=$?
is "$st" 3 "a user outside $GRP is refused (exit 3)"
like "$out" 'Permission denied' "  ... by the socket's permissions"

# --- a stalled client holds nothing up -----------------------------------------------------------
"$PY" - "$SOCK" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.send(b"sta"); time.sleep(4)
EOF
stall=$!
track "$stall"
sleep 0.2
ctl status >/dev/null; ok $? "a client that never finishes its line does not block another"
is "$(rcode "$(q "$BPORT" t.me A)")" NXDOMAIN "  ... nor queries"

stop_blokir
[ ! -e "$SOCK" ]; ok $? "the socket file is removed at a clean stop"
done_testing
