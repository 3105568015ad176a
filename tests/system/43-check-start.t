#!/bin/bash
# 43-check-start: --check refuses what start-up would refuse later, with the same message at the
# key's FILE:LINE:COLUMN and exit 1: a user: or group: that does not exist, a chroot: that does not
# exist, is not a directory, or does not hold the file; as root with user: nobody, a list file, a
# zone's tsig-secret-file (mode 0600, owned by root) that nobody cannot read, or a state-dir it
# cannot write (SIGHUP reads lists and secrets again after the privilege drop), or the file itself
# mode 0600; with chroot: the paths a reload resolves inside the jail (a list beside the file is
# fine; one by an absolute path that exists only outside the jail, or is named by the jail's own
# prefix, is refused; as root with allow-root too). Start-up says the same and exits 1 before
# binding anything. A detached start that fails after detaching (root without user:) exits with
# the daemon's status and prints why on the starting terminal.
. "$(dirname "$0")/lib.sh"

P=$(free_port)
CFG="$T_TMP/policy.yaml"
check() { CK_OUT=$(timeout $((10 * SLOW)) $BLOKIR_WRAPPER "$BLOKIR" -c "$1" --check 2>&1); CK_ST=$?; }

write_policy "$CFG" "$P" "127.0.0.1:9" 'user: nosuchuser'
check "$CFG"
is "$CK_ST" 1 "--check with user: nosuchuser exits 1"
like "$CK_OUT" "^$CFG:7:7: user \"nosuchuser\": no such user\$" "  ... saying FILE:7:7: user \"nosuchuser\": no such user"
out=$(timeout $((10 * SLOW)) "$BLOKIR" -c "$CFG" --foreground 2>&1); st=$?
is "$st" 1 "starting with it exits 1 too, before binding"
is "$out" "$CK_OUT" "  ... with the same message"

write_policy "$CFG" "$P" "127.0.0.1:9" 'group: nosuchgroup'
check "$CFG"
is "$CK_ST/$CK_OUT" "1/$CFG:7:8: group \"nosuchgroup\": no such group" "--check with group: nosuchgroup: exit 1, FILE:LINE:COLUMN"

write_policy "$CFG" "$P" "127.0.0.1:9" "chroot: $T_TMP/nojail"
check "$CFG"
is "$CK_ST/$CK_OUT" "1/$CFG:7:9: chroot $T_TMP/nojail: No such file or directory" "--check with a missing chroot: exit 1"

: >"$T_TMP/plainfile"
write_policy "$CFG" "$P" "127.0.0.1:9" "chroot: $T_TMP/plainfile"
check "$CFG"
is "$CK_ST/$CK_OUT" "1/$CFG:7:9: chroot $T_TMP/plainfile: not a directory" "--check with a chroot that is a file: exit 1"

mkdir -p "$T_TMP/jail"
write_policy "$CFG" "$P" "127.0.0.1:9" "chroot: $T_TMP/jail"
check "$CFG"
is "$CK_ST" 1 "--check with the file outside the chroot: exit 1"
like "$CK_OUT" "^$CFG:7:9: chroot $T_TMP/jail: the configuration file $CFG is outside it" "  ... saying it is outside"
write_policy "$T_TMP/jail/policy.yaml" "$P" "127.0.0.1:9" "chroot: $T_TMP/jail/"
check "$T_TMP/jail/policy.yaml"
is "$CK_ST" 0 "--check with the file inside the chroot: exit 0" || diag "$CK_OUT"

write_policy "$CFG" "$P" "127.0.0.1:9" 'user: nosuchuser' 'group: nosuchgroup' "chroot: $T_TMP/nojail"
check "$CFG"
is "$(grep -c "^$CFG:" <<<"$CK_OUT")" 3 "all three problems reported in one run"

# --- files the account of user: must be able to read --------------------------------------------
if [ "$(id -u)" != 0 ] || ! getent passwd nobody >/dev/null; then
	skip "needs root and a user nobody" "--check tests readability as user:"
else
	chmod 755 "$T_TMP" # traversable by nobody: only the files' own modes decide
	printf 'blocked.example.test\n' >"$T_TMP/list.txt"
	chmod 600 "$T_TMP/list.txt"
	write_policy "$CFG" "$P" "127.0.0.1:9" 'user: nobody' 'lists:' "  - file: $T_TMP/list.txt"
	check "$CFG"
	is "$CK_ST" 1 "--check with user: nobody and a list file mode 0600 owned by root: exit 1"
	is "$CK_OUT" "$CFG:9:5: list $T_TMP/list.txt: not readable by user \"nobody\" (Permission denied); SIGHUP reads it again after the privilege drop" \
		"  ... at the list's entry, naming the file and the user"
	out=$(timeout $((10 * SLOW)) "$BLOKIR" -c "$CFG" --foreground 2>&1); st=$?
	is "$st/$out" "1/$CK_OUT" "  ... and starting with it exits 1 too, with the same message"
	chmod 644 "$T_TMP/list.txt"
	check "$CFG"
	is "$CK_ST" 0 "  ... readable (mode 0644): exit 0" || diag "$CK_OUT"
	chmod 600 "$T_TMP/list.txt"
	chown nobody "$T_TMP/list.txt"
	check "$CFG"
	is "$CK_ST" 0 "  ... mode 0600 owned by nobody: exit 0" || diag "$CK_OUT"
	write_policy "$CFG" "$P" "127.0.0.1:9" 'lists:' "  - file: $T_TMP/list.txt" 'allow-root: true'
	chown root "$T_TMP/list.txt"
	check "$CFG"
	is "$CK_ST" 0 "  ... without user: root's own reading is what counts: exit 0" || diag "$CK_OUT"

	# a zone: its secret is read again on SIGHUP, its copies written to state-dir
	mkdir -p "$T_TMP/state"
	chown nobody "$T_TMP/state"
	echo 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0' >"$T_TMP/rpz.key"
	chmod 600 "$T_TMP/rpz.key"
	zone_cfg() {
		write_policy "$CFG" "$P" "127.0.0.1:9" 'user: nobody' "state-dir: $1" 'zones:' \
			'  - name: rpz.example.test' '    primaries: ["127.0.0.1:9"]' '    tsig-key: k' \
			"    tsig-secret-file: $T_TMP/rpz.key"
	}
	zone_cfg "$T_TMP/state"
	check "$CFG"
	sline=$(grep -n 'tsig-secret-file:' "$CFG" | cut -d: -f1)
	like "$CK_ST/$CK_OUT" "^1/$CFG:$sline:[0-9]+: zones\\[0\\]\\.tsig-secret-file: $T_TMP/rpz.key: Permission denied \\(as SIGHUP finds $CFG after the privilege drop, as user \"nobody\"\\)\$" \
		"--check with a zone's tsig-secret-file owned by root (0600): exit 1, at the key, as the reload would say it"
	chown nobody "$T_TMP/rpz.key"
	check "$CFG"
	is "$CK_ST" 0 "  ... owned by nobody: exit 0" || diag "$CK_OUT"
	mkdir -p "$T_TMP/rootstate"
	zone_cfg "$T_TMP/rootstate"
	check "$CFG"
	is "$CK_ST/$CK_OUT" "1/$CFG:8:12: state-dir $T_TMP/rootstate: not writable by user \"nobody\" (Permission denied): transferred zones could not be kept" \
		"--check with zones and a state-dir nobody cannot write: exit 1"

	# SIGHUP reads the file itself again, as the account
	write_policy "$CFG" "$P" "127.0.0.1:9" 'user: nobody'
	chmod 600 "$CFG"
	check "$CFG"
	is "$CK_ST/$CK_OUT" "1/$CFG:1:1: Permission denied (as SIGHUP finds $CFG after the privilege drop, as user \"nobody\")" \
		"--check with the file itself mode 0600 owned by root and user: nobody: exit 1"
	chmod 644 "$CFG"

	# --- chroot: what a reload opens is inside the jail --------------------------------------
	# Start-up reads the lists as root from the paths as written; every SIGHUP after the drop
	# looks for them inside the chroot. A list beside the file (a relative path) is the same
	# file both ways; one named by an absolute path must exist inside the chroot.
	J="$T_TMP/cjail"
	mkdir -p "$J/etc/blokir" "$J/lists"
	chmod 755 "$J" "$J/etc" "$J/etc/blokir" "$J/lists"
	JCFG="$J/etc/blokir/policy.yaml"
	printf 'beside.example.test\n' >"$J/etc/blokir/beside.txt"
	printf 'host.example.test\n' >"$T_TMP/hostlist.txt"
	printf 'in.example.test\n' >"$J/lists/in.txt"
	chmod 644 "$J/etc/blokir/beside.txt" "$T_TMP/hostlist.txt" "$J/lists/in.txt"
	jcfg() { write_policy "$JCFG" "$P" "127.0.0.1:9" "chroot: $J" 'user: nobody' 'lists:' "$@"; chmod 644 "$JCFG"; }
	jcfg '  - file: beside.txt'
	check "$JCFG"
	is "$CK_ST" 0 "chroot: a list beside the file (relative path) is the same file inside it: exit 0" || diag "$CK_OUT"
	jcfg "  - file: $T_TMP/hostlist.txt"
	check "$JCFG"
	is "$CK_ST/$CK_OUT" "1/$JCFG:10:5: list $T_TMP/hostlist.txt: not readable by user \"nobody\" inside chroot $J (No such file or directory); SIGHUP reads it again after the privilege drop" \
		"chroot: a list by an absolute path that exists outside the chroot only: exit 1 (a reload would not find it)"
	out=$(timeout $((10 * SLOW)) "$BLOKIR" -c "$JCFG" --foreground 2>&1); st=$?
	is "$st/$out" "1/$CK_OUT" "  ... and start-up refuses it too, before binding, with the same message"
	jcfg "  - file: $J/lists/in.txt"
	check "$JCFG"
	is "$CK_ST/$CK_OUT" "1/$JCFG:10:5: list $J/lists/in.txt: not readable by user \"nobody\" inside chroot $J (No such file or directory); SIGHUP reads it again after the privilege drop" \
		"chroot: a list by its absolute path outside the view of the chroot (the jail's own prefix): exit 1"
	mkdir -p "$J/$T_TMP" && cp "$T_TMP/hostlist.txt" "$J/$T_TMP/hostlist.txt"
	chmod 644 "$J/$T_TMP/hostlist.txt" # (mkdir -p made each directory 0755)
	jcfg "  - file: $T_TMP/hostlist.txt"
	check "$JCFG"
	is "$CK_ST" 0 "chroot: the same absolute path present inside the chroot too: exit 0" || diag "$CK_OUT"
	printf 'only.example.test\n' >"$T_TMP/onlyhost.txt"
	write_policy "$JCFG" "$P" "127.0.0.1:9" "chroot: $J" 'allow-root: true' 'lists:' "  - file: $T_TMP/onlyhost.txt"
	check "$JCFG"
	is "$CK_ST/$CK_OUT" "1/$JCFG:10:5: list $T_TMP/onlyhost.txt: not readable by root inside chroot $J (No such file or directory); SIGHUP reads it again after the privilege drop" \
		"chroot with no user: (allow-root): root inside the chroot must find the list too"
fi

# --- a detached start that fails after detaching ---------------------------------------------
if [ "$(id -u)" != 0 ] || [ -n "$BLOKIR_WRAPPER" ]; then
	skip "needs root, no wrapper" "detached start refused as root: exit 3 and the reason on stderr"
else
	write_policy "$CFG" "$P" "127.0.0.1:9"
	out=$(timeout $((10 * SLOW)) "$BLOKIR" -c "$CFG" --pidfile "$T_TMP/b.pid" 2>&1 </dev/null); st=$?
	is "$st" 3 "detached, as root without user: or allow-root: the starting command exits 3"
	like "$out" 'refusing to run as root' "  ... and prints why (the daemon's own log line, after detaching)"
	[ ! -e "$T_TMP/b.pid" ]; ok $? "  ... leaving no pidfile"
fi
done_testing
