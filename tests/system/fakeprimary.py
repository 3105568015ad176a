#!/usr/bin/python3
"""fakeprimary: a misbehaving RPZ primary for blokir's zone-transfer fault tests.

It listens on 127.0.0.1 --port (UDP and TCP) for zone --zone. Over UDP it answers SOA queries
with serial --serial (real primaries do the same), so blokir goes on to a transfer; over TCP it
answers an AXFR or IXFR query the way --mode asks:

  mismatch   the zone with its final SOA carrying another serial than the first (malformed)
  outside    a record whose owner is not below the zone (malformed RPZ)
  stall      the connection is accepted and the query read, and nothing is ever sent
  cut        the first half of the answer message, then the connection is closed

Every TCP query is logged (--log) as "tcp TYPE". SIGTERM and SIGINT end the program with status
0. "ready" is printed on stdout once listening.
"""

import argparse
import signal
import socket
import struct
import sys
import threading

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--zone", required=True)
p.add_argument("--serial", type=int, default=6)
p.add_argument("--mode", required=True, choices=["mismatch", "outside", "stall", "cut"])
p.add_argument("--log", default=None)
a = p.parse_args()
zone = dns.name.from_text(a.zone)
logf = open(a.log, "a", buffering=1) if a.log else None


def soa(serial):
    return dns.rrset.from_text(zone, 60, "IN", "SOA",
                               "ns.%s hostmaster.%s %d 1 1 600 60" % (zone, zone, serial))


def answer(q):
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    return r


def udp_loop(s):
    while True:
        data, peer = s.recvfrom(65535)
        try:
            q = dns.message.from_wire(data)
        except Exception:
            continue
        r = answer(q)
        if q.question and q.question[0].rdtype == dns.rdatatype.SOA and q.question[0].name == zone:
            r.answer.append(soa(a.serial))
        else:
            r.set_rcode(dns.rcode.REFUSED)
        s.sendto(r.to_wire(), peer)


def recv_all(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            return None
        b += chunk
    return b


def tcp_conn(c):
    try:
        ln = recv_all(c, 2)
        if ln is None:
            return
        data = recv_all(c, struct.unpack("!H", ln)[0])
        q = dns.message.from_wire(data)
        if logf:
            logf.write("tcp %s\n" % dns.rdatatype.to_text(q.question[0].rdtype))
        if a.mode == "stall":
            threading.Event().wait(3600)
            return
        r = answer(q)
        r.answer.append(soa(a.serial))
        if a.mode == "outside":
            r.answer.append(dns.rrset.from_text("x.other.test.", 60, "IN", "CNAME", "."))
        else:
            r.answer.append(dns.rrset.from_text(dns.name.from_text("new", zone), 60, "IN", "CNAME", "."))
        r.answer.append(soa(a.serial + 1 if a.mode == "mismatch" else a.serial))
        wire = r.to_wire()
        if a.mode == "cut":
            c.sendall(struct.pack("!H", len(wire)) + wire[: len(wire) // 2])
            c.close()
            return
        c.sendall(struct.pack("!H", len(wire)) + wire)
        threading.Event().wait(1)
    except Exception:
        pass
    finally:
        try:
            c.close()
        except Exception:
            pass


def tcp_loop(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=tcp_conn, args=(c,), daemon=True).start()


signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", a.port))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", a.port))
t.listen(16)
threading.Thread(target=udp_loop, args=(u,), daemon=True).start()
threading.Thread(target=tcp_loop, args=(t,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
