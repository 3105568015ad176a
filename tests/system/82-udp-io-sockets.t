#!/bin/bash
# 82-udp-io-sockets: the socket path stays tested. The default `udp-io: auto` puts client UDP on
# io_uring wherever the kernel gives it, so the rest of the suite runs there; tests 02, 03, 06,
# 08 (signals, the graceful stop), 20 (allow-from), 21 (the rate limits), 22 (the privilege drop
# and chroot), 27 (busy-poll-us) and 04 (reloads) are run again with `udp-io: sockets` in their
# configs (lib.sh's BLOKIR_UDP_IO) and must pass whole; `ctl status` first shows both workers on
# sockets. About 60 s.
. "$(dirname "$0")/lib.sh"

SOCK="$T_TMP/ctl.sock"
ctl() { timeout 20 "$BLOKIR" ctl -s "$SOCK" "$@"; }
BLOKIR_UDP_IO=sockets setup_std "control-socket: $SOCK"
like "$(ctl status)" '^udp-io: worker 0 sockets, worker 1 sockets$' \
	"udp-io: sockets: both workers read client UDP through sockets"
unlike "$(cat "$T_TMP/blokir.log")" 'udp-io' "  ... and nothing logged about udp-io"
stop_blokir

for t in 02-block 03-forward 06-hostile 08-signals 20-acl 21-ratelimit 22-privdrop 27-busy-poll 04-reload; do
	out=$(BLOKIR_UDP_IO=sockets timeout $((300 * SLOW)) bash "$SYSDIR/$t.t" 2>&1); st=$?
	plan=$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' <<<"$out" | head -1)
	bad=$(grep -c '^not ok' <<<"$out")
	[ "$st" -eq 0 ] && [ "$bad" -eq 0 ] && [ -n "$plan" ] && [ "$plan" -gt 0 ]
	ok $? "test $t with udp-io: sockets: $plan points, $bad failed (exit $st)"
	[ "$bad" -eq 0 ] || grep '^not ok' <<<"$out" | head -5 | diag
done
done_testing
