#!/usr/bin/env python3
"""gen_table.py ROWS.tsv CALLGRIND.tsv STARTUP.tsv: the table bench/run.sh prints.

ROWS.tsv has one line per dnsperf measurement (system, policy size, mix, pinning, qps, lost %,
mean latency at saturation in ms, p50 and p99 at the fixed low rate in microseconds, server CPU
microseconds per query, answer check). This adds blokir's ratio to dnsdist and Unbound for the
same policy/mix/pinning, a check of the issue 4 targets, and the callgrind instructions per query.
"""
import sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
cg = [l.rstrip("\n").split("\t") for l in open(sys.argv[2]) if l.strip()] if len(sys.argv) > 2 else []
try:
    startup = [l.rstrip("\n").split("\t") for l in open(sys.argv[3]) if l.strip()]
except OSError:
    startup = []

by = {}
for r in rows:
    by[(r[0], r[1], r[2], r[3])] = r


def qps(sysname, pol, mix, pin):
    r = by.get((sysname, pol, mix, pin))
    return float(r[4]) if r and float(r[4]) > 0 else None


def ratio(a, b):
    return "%.2f" % (a / b) if a and b else "-"


def added_p50(r):
    """The row's p50 minus that of nsd queried directly just before it (bench/run.sh measure)."""
    if r is None or len(r) < 13 or r[7] == "n/a" or r[12] == "n/a":
        return None
    return int(r[7]) - int(r[12])


hdr = ["system", "names", "mix", "cpus", "qps", "spread%", "lost%", "mean ms", "p50 us", "p99 us",
       "+p50 us", "cpu us/q", "srv cpu%", "x dnsdist", "x unbound", "answers"]
out = [hdr]
for r in rows:
    s, pol, mix, pin = r[0], r[1], r[2], r[3]
    xd = xu = ""
    if s.startswith("blokir"):
        me = qps(s, pol, mix, pin)
        xd = ratio(me, qps("dnsdist", pol, mix, pin))
        xu = ratio(me, qps("unbound", pol, mix, pin))
    # Server CPU busy at the best qps: qps x CPU per query. Well under 100% (one core) pinned means
    # the server was not the bottleneck: the load generator's core was.
    try:
        busy = "%.0f" % (float(r[4]) * float(r[9]) / 1e4)
    except ValueError:
        busy = "n/a"
    add = added_p50(r)
    out.append([s, pol, mix, pin, r[4], r[11] if len(r) > 11 else "-"] + r[5:9] +
               ["" if add is None else str(add), r[9], busy, xd, xu, r[10]])
w = [max(len(row[i]) for row in out) for i in range(len(hdr))]
right = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
for i, row in enumerate(out):
    print("  ".join(c.rjust(w[j]) if j in right else c.ljust(w[j]) for j, c in enumerate(row)).rstrip())
    if i == 0:
        print("  ".join("-" * x for x in w))

# Targets from issue 4, one line each, for every pinning and policy measured.
print("\nissue 4 targets (same run):")
pins = sorted({r[3] for r in rows})
pols = sorted({r[1] for r in rows if r[1] != "-"}, key=lambda x: int(x))
for pin in pins:
    for pol in pols:
        b, d = qps("blokir", pol, "blocked", pin), qps("dnsdist", pol, "blocked", pin)
        bare = qps("bare", pol, "blocked", pin)
        if b:
            print("  %-8s %7s names  blocked   blokir/dnsdist %s (target >= 1.5)   blokir/bare %s (target >= 0.90)"
                  % (pin, pol, ratio(b, d), ratio(b, bare)))
        f, fd = qps("blokir", pol, "forwarded", pin), qps("dnsdist", pol, "forwarded", pin)
        if f:
            br = by.get(("blokir", pol, "forwarded", pin))
            added = "-" if added_p50(br) is None else "%d us" % added_p50(br)
            print("  %-8s %7s names  forwarded blokir/dnsdist %s (target >= 1.2)   added p50 over nsd %s (target < 50 us)"
                  % (pin, pol, ratio(f, fd), added))
            pr = by.get(("blokir-poll", pol, "forwarded", pin))
            if pr and added_p50(pr) is not None:
                print("  %-8s %7s names  forwarded with busy-poll-us: 100: blokir/dnsdist %s   added p50 over nsd %d us"
                      % (pin, pol, ratio(float(pr[4]), fd), added_p50(pr)))
            cr = qps("blokir-cache", pol, "forwarded", pin)
            if cr:
                print("  %-8s %7s names  forwarded with cache-size: 250000 (names repeat every pass): blokir/dnsdist %s"
                      % (pin, pol, ratio(cr, fd)))
            # The ceiling: bare_relay is the least work a forwarder can do; what it reaches over
            # dnsdist is the most any forwarder could, and its own added p50 is the floor.
            rr, relay = by.get(("relay", "-", "forwarded", pin)), qps("relay", "-", "forwarded", pin)
            if rr and relay:
                radded = "-" if added_p50(rr) is None else "%d us" % added_p50(rr)
                print("  %-8s %7s names  forwarded ceiling: relay/dnsdist %s, blokir/relay %s; the relay's own added p50 %s"
                      % (pin, pol, ratio(relay, fd), ratio(f, relay), radded))
    if len(pols) == 2:
        small, big = qps("blokir", pols[0], "blocked", pin), qps("blokir", pols[1], "blocked", pin)
        if small and big:
            print("  %-8s blocked qps %s names / %s names: %s (target within 5%%: 0.95..1.05)"
                  % (pin, pols[1], pols[0], ratio(big, small)))

if cg:
    print("\ninstructions per query (callgrind, one worker, 11 names, Ir(large) - Ir(small) over the difference):")
    for s, kind, n1, ir1, n2, ir2 in cg:
        try:
            per = "%.0f" % ((int(ir2) - int(ir1)) / (int(n2) - int(n1)))
        except ValueError:
            per = "n/a"
        print("  %-8s %-9s Ir(%s)=%s  Ir(%s)=%s  per query: %s" % (s, kind, n1, ir1, n2, ir2, per))

if startup:
    print("\nstart-up (until the first answer), seconds:")
    for s, pol, pin, secs in startup:
        print("  %-12s %7s names  %-8s %s" % (s, pol, pin, secs))
