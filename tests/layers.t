#!/usr/bin/python3
# tests/layers.t: the include graph of src/ and include/ (README "Code map"). A module is a .c
# file with its header of the same name; module A uses B when A's .c or .h includes "B.h". Fails
# (TAP) on any include circle among modules, and on a network module reaching up or sideways:
#   - listen and upstream include none of proxy.h, worker.h, and each other's header;
#   - proxy includes none of listen.h, upstream.h, worker.h;
#   - worker.h is included only by worker.c and the server (server.c and its parts, the files
#     that include serverpriv.h); struct worker is private to worker.c.
# Run by `make test`; needs nothing but python3.
import os
import re
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
inc_re = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)
uses = {}   # module -> set of modules whose header it includes
files = {}  # (file) -> set of headers included
for d, ext in (("src", ".c"), ("include", ".h")):
    for name in sorted(os.listdir(os.path.join(root, d))):
        if not name.endswith(ext):
            continue
        mod = name[: -len(ext)]
        with open(os.path.join(root, d, name), encoding="utf-8") as f:
            hdrs = set(inc_re.findall(f.read()))
        files[os.path.join(d, name)] = hdrs
        uses.setdefault(mod, set()).update(h for h in hdrs if h != mod)

n = 0
failed = 0


def check(cond, what, diag=None):
    global n, failed
    n += 1
    print(("ok" if cond else "not ok") + " %d - %s" % (n, what))
    if not cond:
        failed += 1
        for line in diag or []:
            print("#   " + line)


# Circles: a depth-first search that reports the first back edge's path.
def find_cycle():
    state = {}
    stack = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for u in sorted(uses.get(m, ())):
            if state.get(u) == 1:
                return stack[stack.index(u):] + [u]
            if u not in state:
                c = visit(u)
                if c:
                    return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(uses):
        if m not in state:
            c = visit(m)
            if c:
                return c
    return None


cycle = find_cycle()
check(cycle is None, "no include circle among the modules of src/ and include/",
      ["circle: " + " -> ".join(cycle)] if cycle else None)

forbidden = {
    "listen": {"proxy", "worker", "upstream"},
    "upstream": {"proxy", "worker", "listen"},
    "proxy": {"listen", "upstream", "worker"},
}
for mod, bad in sorted(forbidden.items()):
    for f in ("src/%s.c" % mod, "include/%s.h" % mod):
        got = sorted(files.get(f, set()) & bad)
        check(not got, "%s includes none of %s" % (f, ", ".join(b + ".h" for b in sorted(bad))),
              ["includes " + ", ".join(g + ".h" for g in got)] if got else None)

# The server is one module over several files: src/server.c and its parts, the files that
# include serverpriv.h (struct server's body, private to them).
server_parts = ("src/server.c", "src/serverreload.c", "src/servercarry.c", "src/serverctl.c",
                "src/servermetrics.c")
users = sorted(f for f, h in files.items() if "serverpriv" in h and f not in server_parts)
check(not users, "serverpriv.h is included only by server.c and its parts",
      ["also by " + ", ".join(users)] if users else None)

users = sorted(f for f, h in files.items() if "worker" in h and f != "src/worker.c"
               and f not in server_parts)
check(not users, "worker.h is included only by worker.c and the server's files",
      ["also by " + ", ".join(users)] if users else None)

with open(os.path.join(root, "include", "worker.h"), encoding="utf-8") as f:
    body = f.read()
check(re.search(r"struct worker\s*\{", body) is None,
      "struct worker's body is not in worker.h (private to worker.c)")

print("1..%d" % n)
sys.exit(1 if failed else 0)
