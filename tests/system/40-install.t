#!/bin/bash
# 40-install: `make install` into a DESTDIR puts the binary, the three man pages, the systemd unit,
# the logrotate snippet and the example configuration where the layout says; the installed binary
# runs on the installed example (blocking its example names, forwarding the rest to nsd); an
# existing blokir.yaml is not overwritten by a second install; the unit is accepted by
# `systemd-analyze verify`, and -c defaults to $(SYSCONFDIR)/blokir/blokir.yaml.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$SYSDIR/../.." && pwd)
case "$BLOKIR" in /*) BIN=$BLOKIR ;; *) BIN=$ROOT/$BLOKIR ;; esac
# The configuration directory compiled into the binary under test: installing with the same one
# leaves the build tree as it is (another SYSCONFDIR would rebuild main.o, by design).
ETC=$("$BLOKIR" --help | sed -n 's|.*(YAML; default \(.*\)/blokir/blokir\.yaml).*|\1|p')
[ -n "$ETC" ] || bail "--help does not name the default configuration file"
# Install the binary under test as it is (-o: never relinked here, whichever build it is).
# Command-line variables given later override SYSCONFDIR=$ETC.
inst() { make -s --no-print-directory -C "$ROOT" install BIN="$BIN" -o "$BIN" SYSCONFDIR="$ETC" "$@" 2>&1; }

DEST="$T_TMP/dest"
out=$(inst DESTDIR="$DEST"); st=$?
is "$st" 0 "make install DESTDIR=... succeeds" || diag "$out"
for f in /usr/local/sbin/blokir /usr/local/share/man/man8/blokir.8 \
	/usr/local/share/man/man8/blokir-ctl.8 /usr/local/share/man/man5/blokir.yaml.5 \
	/usr/local/lib/systemd/system/blokir.service "$ETC/blokir/blokir.yaml" \
	"$ETC/blokir/blokir.yaml.example" "$ETC/logrotate.d/blokir" \
	/usr/local/share/doc/blokir/examples/telegram-2017.yaml; do
	[ -f "$DEST$f" ]; ok $? "  ... installs $f"
done
[ -x "$DEST/usr/local/sbin/blokir" ]; ok $? "  ... the binary is executable"
unlike "$(cat "$DEST/usr/local/lib/systemd/system/blokir.service" "$DEST$ETC/logrotate.d/blokir" \
	"$DEST/usr/local/share/man/man8/blokir.8")" '@[A-Z]+@' "  ... with every @PATH@ placeholder substituted"
like "$(grep '^ExecStart=' "$DEST/usr/local/lib/systemd/system/blokir.service")" \
	"^ExecStart=/usr/local/sbin/blokir --foreground -c $ETC/blokir/blokir.yaml\$" \
	"  ... the unit starts /usr/local/sbin/blokir on $ETC/blokir/blokir.yaml"
# Without -c the compiled-in file is read (whether or not this machine has one).
out=$(cd "$T_TMP" && "$BIN" --check 2>&1)
like "$out" "^$ETC/blokir/blokir\.yaml[:]" "without -c, --check reads the compiled-in $ETC/blokir/blokir.yaml"

echo "# edited by the operator" >>"$DEST$ETC/blokir/blokir.yaml"
inst DESTDIR="$DEST" >/dev/null
like "$(tail -n 1 "$DEST$ETC/blokir/blokir.yaml")" 'edited by the operator' \
	"a second install leaves an existing blokir.yaml alone"
cmp -s "$ROOT/dist/blokir.yaml" "$DEST$ETC/blokir/blokir.yaml.example" ||
	! grep -q '@' "$DEST$ETC/blokir/blokir.yaml.example"; ok $? "  ... and refreshes blokir.yaml.example"

# --- the installed binary on the installed example -------------------------------------------------
IB="$DEST/usr/local/sbin/blokir"
EX="$DEST$ETC/blokir/blokir.yaml.example"
out=$("$IB" --check -c "$EX" 2>&1); st=$?
is "$st" 0 "the installed binary accepts the installed example (--check)" || diag "$out"
start_nsd || bail "nsd did not start"
BPORT=$(free_port)
# the example's control socket is in the unit's /run/blokir: here, one of the test's own
sed "s|^control-socket: .*|control-socket: $T_TMP/control.sock|" "$EX" >"$T_TMP/example.yaml"
BLOKIR="$IB" start_blokir "$T_TMP/example.yaml" "$BPORT" --listen "127.0.0.1:$BPORT" --upstream "127.0.0.1:$NSD_PORT" ||
	bail "the installed blokir did not start on the example"
out=$(q "$BPORT" www.blocked.example A)
is "$(rcode "$out")" NXDOMAIN "  ... it serves: www.blocked.example is blocked (NXDOMAIN)"
like "$out" 'example order, 2017-07-14' "  ... with the example's reason in the EDE text"
out=$(q "$BPORT" x.ads.example A)
is "$(rcode "$out")/$(section "$out" ANSWER | wc -l)" "NOERROR/0" "  ... x.ads.example gets NODATA"
out=$(q "$BPORT" www.example.test A)
like "$(section "$out" ANSWER)" 'www\.example\.test\. [0-9]+ IN A 192\.0\.2\.1' \
	"  ... www.example.test is forwarded to the upstream"
like "$("$IB" ctl -c "$T_TMP/example.yaml" status 2>&1)" '^policy generation: 0$' \
	"  ... and answers blokir ctl on the example's control-socket"
stop_blokir "  ... and stops cleanly"

# --- the unit, verified by systemd ------------------------------------------------------------------
# A PREFIX install (no DESTDIR) so the unit's ExecStart names a binary that exists; its man pages are
# found through MANPATH (verify runs man for each Documentation= page).
if ! command -v systemd-analyze >/dev/null; then
	skip "no systemd-analyze" "systemd-analyze verify accepts the unit"
else
	PFX="$T_TMP/prefix"
	# every directory under the prefix, so nothing lands outside the test's directory
	inst PREFIX="$PFX" SYSCONFDIR="$PFX/etc" >/dev/null
	unit="$PFX/lib/systemd/system/blokir.service"
	out=$(cd "$T_TMP" && MANPATH="$PFX/share/man" timeout 60 systemd-analyze verify "$unit" 2>&1); st=$?
	is "$st/$out" "0/" "systemd-analyze verify accepts blokir.service, without a warning" || diag "$out"
	grep -q '^Type=notify$' "$unit"; ok $? "  ... Type=notify"
	like "$(grep '^ExecReload=' "$unit")" "^ExecReload=$PFX/sbin/blokir ctl reload\$" "  ... ExecReload runs blokir ctl reload"
	for d in ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet=CAP_NET_BIND_SERVICE \
		AmbientCapabilities=CAP_NET_BIND_SERVICE User=blokir Group=blokir; do
		grep -qx "$d" "$unit"; ok $? "  ... $d"
	done
	# A unit with a typo must fail the same check, or the check above proves nothing.
	sed 's/^ProtectSystem=strict$/ProtectSytem=strict/' "$unit" >"$T_TMP/bad.service"
	out=$(cd "$T_TMP" && MANPATH="$PFX/share/man" timeout 60 systemd-analyze verify "$T_TMP/bad.service" 2>&1)
	like "$out" 'ProtectSytem' "  ... (and it does flag a misspelt directive)"
fi
done_testing
