#!/usr/bin/python3
"""fakeprimary: a misbehaving RPZ primary for blokir's zone-transfer fault tests.

It listens on 127.0.0.1 --port (UDP and TCP) for zone --zone. Over UDP it answers SOA queries
with serial --serial (real primaries do the same), so blokir goes on to a transfer; over TCP it
answers an AXFR or IXFR query the way --mode asks:

  mismatch   the zone with its final SOA carrying another serial than the first (malformed)
  outside    a record whose owner is not below the zone (malformed RPZ)
  stall      the connection is accepted and the query read, and nothing is ever sent
  cut        the first half of the answer message, then the connection is closed

With --tsig-secret-file (key blokir-key., hmac-sha256) queries must be signed, the SOA answer is
signed, and the AXFR answer is --messages messages (the first with the SOA, the last with the
final SOA, one trigger PREFIXi CNAME . each, PREFIX the zone's first label) signed per --mode
with the MAC chain of RFC 8945 5.3.1 computed here, unsigned messages included:

  tsig-sparse        the first, every third and the last signed
  tsig-lastunsigned  the first and every third signed, the last not
  tsig-badmid        as tsig-sparse, but the MAC of the fourth message (a signed one) is wrong
  tsig-gap           the first and the last signed, every message between them unsigned

--clock-skew S signs the transfer's messages S seconds off (the fudge is 300 s).

Every TCP query is logged (--log) as "tcp TYPE". SIGTERM and SIGINT end the program with status
0. "ready" is printed on stdout once listening.
"""

import argparse
import base64
import hashlib
import hmac
import signal
import socket
import struct
import sys
import threading
import time

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--zone", required=True)
p.add_argument("--serial", type=int, default=6)
p.add_argument("--mode", required=True, choices=["mismatch", "outside", "stall", "cut",
               "tsig-sparse", "tsig-lastunsigned", "tsig-badmid", "tsig-gap"])
p.add_argument("--log", default=None)
p.add_argument("--tsig-secret-file", default=None)
p.add_argument("--messages", type=int, default=10)
p.add_argument("--clock-skew", type=int, default=0, help="seconds added to the transfer's TSIG times")
a = p.parse_args()
zone = dns.name.from_text(a.zone)
logf = open(a.log, "a", buffering=1) if a.log else None
KEY = dns.name.from_text("blokir-key.")
ALG = dns.name.from_text("hmac-sha256.")
secret = keyring = None
if a.tsig_secret_file:
    b64 = open(a.tsig_secret_file).read().strip()
    secret = base64.b64decode(b64)
    keyring = dns.tsigkeyring.from_text({"blokir-key.": b64})


class Chain:
    """The MAC chain of one multi-message answer (RFC 8945 5.3.1), kept by hand: dnspython
    signs every message, and this primary must be able to leave some unsigned."""

    def __init__(self, request_mac):
        self.prev = request_mac
        self.unsigned = []
        self.first = True

    def plain(self, wire):
        self.unsigned.append(wire)
        return wire

    def sign(self, wire, corrupt=False):
        h = hmac.new(secret, digestmod=hashlib.sha256)
        h.update(struct.pack("!H", len(self.prev)) + self.prev)
        for u in self.unsigned:
            h.update(u)
        self.unsigned = []
        h.update(wire)
        now = int(time.time()) + a.clock_skew
        timers = struct.pack("!HIH", now >> 32, now & 0xFFFFFFFF, 300)
        if self.first:
            h.update(KEY.to_wire() + struct.pack("!HI", 255, 0) + ALG.to_wire() + timers +
                     struct.pack("!HH", 0, 0))
        else:
            h.update(timers)
        self.first = False
        mac = h.digest()
        if corrupt:
            mac = bytes([mac[0] ^ 0x55]) + mac[1:]
        self.prev = mac
        rdata = ALG.to_wire() + timers + struct.pack("!H", len(mac)) + mac + wire[0:2] + \
            struct.pack("!HH", 0, 0)
        rr = KEY.to_wire() + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
        arcount = struct.unpack("!H", wire[10:12])[0] + 1
        return wire[:10] + struct.pack("!H", arcount) + wire[12:] + rr


def signed_at(i, n):
    """Whether message I of N is signed in this --mode."""
    if a.mode == "tsig-gap":
        return i in (0, n - 1)
    if a.mode == "tsig-lastunsigned" and i == n - 1:
        return False
    return i % 3 == 0 or i == n - 1


def tsig_answer(c, q):
    chain = Chain(q.mac)
    prefix = zone.labels[0].decode()
    n = a.messages
    for i in range(n):
        m = dns.message.Message(id=q.id)
        m.flags = dns.flags.QR | dns.flags.AA
        m.question = list(q.question)
        if i == 0:
            m.answer.append(soa(a.serial))
        m.answer.append(dns.rrset.from_text(dns.name.from_text("%s%d" % (prefix, i), zone), 60,
                                            "IN", "CNAME", "."))
        if i == n - 1:
            m.answer.append(soa(a.serial))
        wire = m.to_wire()
        if signed_at(i, n):
            wire = chain.sign(wire, corrupt=a.mode == "tsig-badmid" and i == 3)
        else:
            wire = chain.plain(wire)
        c.sendall(struct.pack("!H", len(wire)) + wire)


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
            q = dns.message.from_wire(data, keyring=keyring)
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
        q = dns.message.from_wire(data, keyring=keyring)
        if logf:
            logf.write("tcp %s\n" % dns.rdatatype.to_text(q.question[0].rdtype))
        if a.mode.startswith("tsig-"):
            tsig_answer(c, q)
            threading.Event().wait(1)
            return
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
