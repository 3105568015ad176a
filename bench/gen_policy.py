#!/usr/bin/env python3
"""gen_policy.py: writes the policies, zone and dnsperf query files for bench/run.sh.

Every system under test gets the same block list in its own format, generated from one list of
names, so the rows of the table compare like with like:

  policy OUTDIR --from-yaml FILE    the names of a blokir YAML policy (the bundled 11-name one)
  policy OUTDIR --size N            N generated names, n0.blk.test .. n{N-1}.blk.test
      OUTDIR/names.txt         one name a line (dnsdist's Lua loop reads this)
      OUTDIR/domains.yaml      blokir `domains:` list, flow style one entry a line
      OUTDIR/unbound-local.conf `local-zone: "NAME." always_nxdomain` per name
      OUTDIR/q-blocked.txt     dnsperf input: names at or below listed names, random order

  zone OUTDIR --records N           fwd.test served by nsd: q1..qN A records and a wildcard
      OUTDIR/fwd.test.zone
      OUTDIR/q-forwarded.txt   dnsperf input: distinct random wX.fwd.test A (wildcard answers)

  mix OUT --blocked F --forwarded F --percent P [--lines L]
      dnsperf input with P% lines from the blocked file, the rest forwarded, interleaved

  count OUT --from F --lines L   the first L query lines of F, cycling (callgrind's fixed counts)

Output is deterministic (fixed seeds), so two runs send the same queries.
"""
import argparse
import os
import random
import re
import sys

QLINES = 200000  # lines per query file; dnsperf cycles through it


def names_from_yaml(path):
    """The enabled `name:` entries of a blokir policy, read without a YAML library: the bundled
    policy is block style, one `- name: X` then `enabled: BOOL` per entry."""
    names, cur = [], None
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].rstrip()
        m = re.match(r"^\s*-\s*(?:\{\s*)?name:\s*\"?([A-Za-z0-9._-]+)\"?", line)
        if m:
            if cur:
                names.append(cur)
            cur = m.group(1).rstrip(".").lower()
            continue
        m = re.match(r"^\s*enabled:\s*(\w+)", line)
        if m and cur and m.group(1).lower() in ("false", "no", "off"):
            cur = None
    if cur:
        names.append(cur)
    return names


def write_policy(outdir, names, generated):
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "names.txt"), "w") as f:
        for n in names:
            f.write(n + "\n")
    with open(os.path.join(outdir, "domains.yaml"), "w") as f:
        f.write("domains:\n")
        for n in names:
            f.write("  - {name: %s}\n" % n)
    with open(os.path.join(outdir, "unbound-local.conf"), "w") as f:
        for n in names:
            f.write('local-zone: "%s." always_nxdomain\n' % n)
    rnd = random.Random(4)
    with open(os.path.join(outdir, "q-blocked.txt"), "w") as f:
        for i in range(QLINES):
            if generated:
                # A random host below a random listed name: the lookup walks a big set cold.
                f.write("h%d.n%d.blk.test A\n" % (rnd.randrange(1000000), rnd.randrange(len(names))))
            else:
                n = names[rnd.randrange(len(names))]
                # Half the listed names themselves, half a host below one.
                if rnd.random() < 0.5:
                    f.write("%s A\n" % n)
                else:
                    f.write("h%d.%s A\n" % (rnd.randrange(1000000), n))


def cmd_policy(a):
    if a.from_yaml:
        names = names_from_yaml(a.from_yaml)
        if not names:
            sys.exit("gen_policy: no enabled names in %s" % a.from_yaml)
        write_policy(a.outdir, names, False)
    else:
        write_policy(a.outdir, ["n%d.blk.test" % i for i in range(a.size)], True)


def cmd_zone(a):
    os.makedirs(a.outdir, exist_ok=True)
    with open(os.path.join(a.outdir, "fwd.test.zone"), "w") as f:
        f.write("$ORIGIN fwd.test.\n$TTL 300\n")
        f.write("@ IN SOA ns.fwd.test. hostmaster.fwd.test. 1 3600 600 86400 300\n")
        f.write("@ IN NS ns.fwd.test.\nns IN A 127.0.0.1\n")
        for i in range(1, a.records + 1):
            f.write("q%d IN A 10.%d.%d.%d\n" % (i, (i >> 16) & 255, (i >> 8) & 255, i & 255))
        # Queries go to distinct names under the wildcard: no two lines of one file repeat, so a
        # resolver's cache (Unbound's cannot be switched off) gets no hits within a file's cycle.
        f.write("* IN A 10.255.0.1\n")
    rnd = random.Random(5)
    with open(os.path.join(a.outdir, "q-forwarded.txt"), "w") as f:
        for i in rnd.sample(range(1, 1000000000), QLINES):
            f.write("w%d.fwd.test A\n" % i)


def cmd_mix(a):
    blocked = open(a.blocked).read().splitlines()
    fwd = open(a.forwarded).read().splitlines()
    rnd = random.Random(6)
    bi = fi = 0
    with open(a.out, "w") as f:
        for _ in range(a.lines):
            if rnd.random() * 100 < a.percent:
                f.write(blocked[bi % len(blocked)] + "\n")
                bi += 1
            else:
                f.write(fwd[fi % len(fwd)] + "\n")
                fi += 1


def cmd_count(a):
    src = open(a.src).read().splitlines()
    with open(a.out, "w") as f:
        for i in range(a.lines):
            f.write(src[i % len(src)] + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("policy")
    s.add_argument("outdir")
    g = s.add_mutually_exclusive_group(required=True)
    g.add_argument("--from-yaml")
    g.add_argument("--size", type=int)
    s.set_defaults(fn=cmd_policy)
    s = sub.add_parser("zone")
    s.add_argument("outdir")
    s.add_argument("--records", type=int, default=1000)
    s.set_defaults(fn=cmd_zone)
    s = sub.add_parser("mix")
    s.add_argument("out")
    s.add_argument("--blocked", required=True)
    s.add_argument("--forwarded", required=True)
    s.add_argument("--percent", type=float, default=10)
    s.add_argument("--lines", type=int, default=QLINES)
    s.set_defaults(fn=cmd_mix)
    s = sub.add_parser("count")
    s.add_argument("out")
    s.add_argument("--from", dest="src", required=True)
    s.add_argument("--lines", type=int, required=True)
    s.set_defaults(fn=cmd_count)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
