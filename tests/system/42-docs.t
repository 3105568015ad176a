#!/bin/bash
# 32-docs: the manual cannot drift from the code. Every option `blokir --help` lists, every signal
# server.c handles and every exit code main.c defines appears in blokir(8) and README.md; every key
# the loader accepts (the key tables of src/configkeys.c) has its own entry in blokir.yaml(5),
# saying whether a reload applies it, and is named in README.md; every key documented in
# blokir.yaml(5) is one the loader accepts; every `blokir ctl` command is in blokir-ctl(8) and
# README.md; the man pages render without a groff warning.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$SYSDIR/../.." && pwd)
M8="$ROOT/doc/blokir.8" M5="$ROOT/doc/blokir.yaml.5" MC="$ROOT/doc/blokir-ctl.8"
README="$ROOT/README.md"

# plain ROFF-FILE: the roff source as text (escaped hyphens and font changes undone).
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(dq/"/g' "$1"; }

for m in "$M8" "$M5" "$MC"; do
	out=$(groff -man -Tutf8 -ww -z "$m" 2>&1)
	is "$out" "" "$(basename "$m") renders without a groff warning"
done

# --- options ---------------------------------------------------------------------------------
help=$("$BLOKIR" --help)
opts=$(grep -oE -- '(^|[ ,])--?[a-zA-Z][a-z0-9-]*' <<<"$help" | tr -d ' ,' | sort -u)
[ "$(wc -l <<<"$opts")" -ge 10 ]; ok $? "--help lists the options ($(wc -w <<<"$opts") found)"
missing8="" missingR=""
for o in $opts; do
	plain "$M8" | grep -qF -- "$o" || missing8="$missing8 $o"
	grep -qF -- "$o" "$README" || missingR="$missingR $o"
done
is "$missing8" "" "every --help option is in blokir(8)"
is "$missingR" "" "every --help option is in README.md"

# --- signals and exit codes ------------------------------------------------------------------
sigs=$(sed -n 's/.*signals\[[0-9]*\] = {\(.*\)};.*/\1/p' "$ROOT/src/server.c" | tr -d ' ' | tr ',' ' ')
[ -n "$sigs" ]; ok $? "server.c's signal table found ($sigs)"
m8="" mR=""
for s in $sigs; do
	plain "$M8" | grep -q -- "^\.[BR]*  *$s\b\|^\.BR  *$s " || plain "$M8" | grep -qw -- "$s" || m8="$m8 $s"
	grep -q -- "\`$s\`" "$README" || mR="$mR $s"
done
is "$m8" "" "every handled signal is in blokir(8)"
is "$mR" "" "every handled signal is in README.md's Signals table"
codes="0 $(sed -n 's/^#define EXIT_[A-Z]* \([0-9]*\)$/\1/p' "$ROOT/src/main.c" | tr '\n' ' ')"
m8="" mR=""
for c in $codes; do
	plain "$M8" | sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' | grep -qx "\.B $c" || m8="$m8 $c"
	grep -q "^| $c |" "$README" || mR="$mR $c"
done
is "$m8" "" "every exit code ($codes) is in blokir(8) EXIT STATUS"
is "$mR" "" "every exit code is in README.md's Exit codes table"

# --- configuration keys ----------------------------------------------------------------------
# The loader's key tables (src/configkeys.c): each `const struct key_spec NAME[...] = { [X] =
# KEY("key", ...), ... };` whose NAME ends in _keys.
keys_of() { # TABLE-NAME-ERE
	awk -v re="$1" '
		$0 ~ "^const struct key_spec (" re ")\\[" { on = 1 }
		on { while (match($0, /KEY\("[a-z0-9-]+"/)) { print substr($0, RSTART + 5, RLENGTH - 6);
			$0 = substr($0, RSTART + RLENGTH) } }
		on && /^};/ { on = 0 }' "$ROOT/src/configkeys.c" | sort -u
}
root_keys=$(keys_of 'root_keys')
sub_keys=$(keys_of 'domain_keys|list_keys|redirect_keys|zone_keys')
[ "$(wc -l <<<"$root_keys")" -ge 20 ] && [ "$(wc -l <<<"$sub_keys")" -ge 10 ]
ok $? "configkeys.c's key tables found ($(wc -l <<<"$root_keys") top-level keys, $(wc -l <<<"$sub_keys") in entries)"
# tags SECTION-TITLE-ERE: the .TP tags of those sections of blokir.yaml(5)
tags() {
	plain "$M5" | awk -v re="$1" '
		/^\.SH / { on = ($0 ~ "^\\.SH (" re ")$") ; next }
		on && prev == ".TP" { sub(/^\.B[R]? /, ""); print $1 }
		{ prev = $0 }' | sort -u
}
doc_root=$(tags 'TOP-LEVEL KEYS')
doc_sub=$(tags 'DOMAIN ENTRIES|LISTS|REDIRECT|ZONES')
is "$(comm -23 <(echo "$root_keys") <(echo "$doc_root") | tr '\n' ' ')" "" \
	"every top-level key the loader accepts has an entry in blokir.yaml(5)"
is "$(comm -13 <(echo "$root_keys") <(echo "$doc_root") | tr '\n' ' ')" "" \
	"  ... and blokir.yaml(5) documents no top-level key the loader refuses"
is "$(comm -23 <(echo "$sub_keys") <(echo "$doc_sub") | tr '\n' ' ')" "" \
	"every key of domains, lists, redirect and zones entries has an entry in blokir.yaml(5)"
is "$(comm -13 <(echo "$sub_keys") <(echo "$doc_sub") | tr '\n' ' ')" "" \
	"  ... and none that the loader refuses"
noreload=$(plain "$M5" | awk '/^\.SH TOP-LEVEL KEYS/ { on = 1; next } /^\.SH / { on = 0 }
	on && prev == ".TP" { k = $2 } on && prev2 == ".TP" && $0 !~ /Reload:/ { print k } { prev2 = prev; prev = $0 }')
is "$noreload" "" "every top-level key's entry says whether a reload applies it"
mR=""
# named in the text (`key`) or shown in one of its YAML examples (key: value)
for k in $root_keys $sub_keys; do
	grep -qF -- "\`$k\`" "$README" || grep -qE -- "^ *(- )?$k: " "$README" || mR="$mR $k"
done
is "$mR" "" "every key is named in README.md (text or example)"

# --- control commands ------------------------------------------------------------------------
if ctl=$("$BLOKIR" ctl --help 2>&1) && grep -q 'reload' <<<"$ctl"; then
	cmds=$(grep -oE '^ +[a-z][a-z-]+' <<<"$ctl" | tr -d ' ' | sort -u)
	mC="" mR=""
	for c in $cmds; do
		plain "$MC" | grep -q -- "^\.BR\? $c\b" || mC="$mC $c"
		grep -qF -- "ctl $c" "$README" || mR="$mR $c"
	done
	is "$mC" "" "every blokir ctl command is in blokir-ctl(8)"
	is "$mR" "" "every blokir ctl command is in README.md"
else
	for c in status reload stats flush-cache reopen-logs why; do
		plain "$MC" | grep -q -- "^\.BR\? $c\b"; ok $? "blokir-ctl(8) describes $c"
	done
fi
done_testing
