"""free_port.py: prints a port number free for both UDP and TCP on 127.0.0.1 (and on ::1 when the
machine has IPv6). Used by the system tests (tests/system/lib.sh) and the benchmarks
(bench/lib.sh).

The port is drawn at random from below the kernel's ephemeral range (ip_local_port_range), not
handed out by the kernel from inside it: a test that picks several ports first and starts its
servers later (35-zones-fleet picks ten, writes them into the primary's NOTIFY list, then starts
ten blokirs) would otherwise race every socket bound to port 0 in the meantime, and each blokir
binds 64 upstream sockets that way, so a port picked early could be taken before its server
binds it. The sockets are closed before it returns, so a small race with other programs remains;
callers bind immediately afterwards.

With an argument FILE, a port listed in FILE (one per line) is never chosen, and the one chosen is
added to it: a test or benchmark passes its own scratch file so that it never gets one port
twice. Exits 1 when no port was found."""
import random
import socket
import sys


def ephemeral_start():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def usable(port):
    socks = []
    try:
        for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(fam, typ)
                socks.append(s)
                try:
                    s.bind((addr, port))
                except OSError as e:
                    if fam == socket.AF_INET6 and e.errno in (97, 99):
                        break  # no IPv6 at all is fine; "in use" is not
                    return False
        return True
    except OSError as e:
        # socket() itself failing for AF_INET6 means no IPv6: fine
        return e.errno in (97, 99)
    finally:
        for s in socks:
            s.close()


seen_file = sys.argv[1] if len(sys.argv) > 1 else None
seen = set()
if seen_file:
    try:
        with open(seen_file) as f:
            seen = {int(line) for line in f if line.strip()}
    except FileNotFoundError:
        pass

low = 10000
high = max(ephemeral_start() - 1, low + 1000)
for _ in range(500):
    port = random.randint(low, high)
    if port not in seen and usable(port):
        if seen_file:
            with open(seen_file, "a") as f:
                f.write(f"{port}\n")
        print(port)
        sys.exit(0)
sys.exit(1)
