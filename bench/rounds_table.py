#!/usr/bin/env python3
"""bench/rounds_table.py ROWS.tsv: the table of an interleaved-rounds benchmark (cpu_fixed.sh,
xdp_veth.sh, callgrind_q20.sh).

Each line of ROWS.tsv is one measurement, tab-separated:

    section  label  ref  system  round  value  info

`section` groups the rows of one measure (for example "blocked/pinned"), `label` says what the value
is (printed once per section), `ref` names the system the others are divided by (the ceiling, or "-"
for none), `value` is a number or "n/a", and `info` is free text kept beside the value (the achieved
rate, lost queries, a wrong answer). Rounds are interleaved by the caller (every system once, then
again), so a system is compared with the reference of the same round: the ratio printed is the
median over rounds of value / ref value in that round, and the value printed is the median over
rounds. Both tables are written: a plain one with every round, and a markdown one (measures as rows,
systems as columns, "median (ratio x)") to paste into README.md.
"""
import statistics
import sys


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def fmt(v):
    if v is None:
        return "n/a"
    if abs(v) >= 100 or (v == int(v) and abs(v) >= 10):
        return "%.0f" % v
    return "%.2f" % v


def main(path):
    sections = {}   # key -> dict(label, ref, systems: {name: {round: (value, info)}})
    order = []
    for line in open(path, encoding="utf-8", errors="replace"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 6:
            continue
        key, label, ref, system, rnd, value = parts[:6]
        info = parts[6] if len(parts) > 6 else ""
        if key not in sections:
            sections[key] = {"label": label, "ref": ref, "systems": {}}
            order.append(key)
        sections[key]["systems"].setdefault(system, {})[rnd] = (num(value), info)

    if not order:
        print("no measurements (the log above says why)")
        return
    md_rows = []
    md_systems = []
    for key in order:
        sec = sections[key]
        ref = sec["systems"].get(sec["ref"], {})
        rounds = sorted({r for s in sec["systems"].values() for r in s}, key=lambda r: (len(r), r))
        print("%s  [%s]" % (sec["label"], key))
        head = ["system"] + ["round %s" % r for r in rounds] + ["median", "x %s" % sec["ref"] if sec["ref"] != "-" else "", "notes"]
        table = [head]
        cells = {}
        for system, by_round in sec["systems"].items():
            vals = [by_round.get(r, (None, ""))[0] for r in rounds]
            good = [v for v in vals if v is not None]
            med = statistics.median(good) if good else None
            ratios = []
            for r in rounds:
                v = by_round.get(r, (None, ""))[0]
                rv = ref.get(r, (None, ""))[0]
                if v is not None and rv and rv > 0:
                    ratios.append(v / rv)
            ratio = statistics.median(ratios) if ratios and system != sec["ref"] else None
            notes = "; ".join(sorted({i for _, i in by_round.values() if i}))
            table.append([system] + [fmt(v) for v in vals] + [fmt(med), "%.2f" % ratio if ratio else "",
                                                               notes])
            cells[system] = (med, ratio)
            if system != sec["ref"] and system not in md_systems:
                md_systems.append(system)
        widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
        for row in table:
            print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
        print()
        md_rows.append((sec, cells))

    refs = any(sec["ref"] != "-" for sec, _ in md_rows)
    print("markdown (medians over rounds%s):" % ("; in brackets the median of the per-round ratio to the ceiling" if refs else ""))
    print()
    print("| measure |" + (" ceiling |" if refs else "") + " " + " | ".join(md_systems) + " |")
    print("|---|" + ("---|" if refs else "") + "---|" * len(md_systems))
    for sec, cells in md_rows:
        ref = sec["ref"]
        ceiling = ""
        if refs:
            ceiling = " %s |" % ("%s %s" % (ref, fmt(cells[ref][0])) if ref in cells else "–")
        row = []
        for system in md_systems:
            if system not in cells or system == ref:
                row.append("–")
                continue
            med, ratio = cells[system]
            row.append(fmt(med) + (" (%.2f×)" % ratio if ratio else ""))
        print("| %s |%s %s |" % (sec["label"], ceiling, " | ".join(row)))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: rounds_table.py ROWS.tsv")
    main(sys.argv[1])
