#!/usr/bin/python3
"""fakeupstream: a misbehaving DNS upstream for blokir's fault-injection system tests.

It listens on 127.0.0.1 only (UDP and TCP on the same port) and answers every query with a
synthesized answer -- A 192.0.2.53 for A queries, 30 TXT strings of 100 characters for TXT
queries (too big for 512 or 1232 bytes), an empty NOERROR otherwise -- after misbehaving in the
way --mode asks:

  good            answer at once (also logs what each query looked like: flags, EDNS, DO)
  silent          never answer (UDP ignored; TCP connections accepted, read and left open)
  quiet-some      over UDP never answer a name whose first label starts with "quiet", answer
                  every other one at once (a timeout next to answered queries)
  slow            answer after --delay-ms milliseconds
  wrong-id        first an answer with a different ID, then the right one
  wrong-port      first an answer from another socket (another source port), then the right one
  wrong-question  first an answer (same ID) for another name with A 203.0.113.66, then the right one
  garbage         first random bytes, then the right ID with the question cut short, then the
                  right ID and question with a broken answer record, then the right answer
  truncated       over UDP an empty answer with TC=1; over TCP the full answer
  tcp-close       over UDP TC=1; over TCP half a message, then the connection is closed
  lowercase       the right answer, but with the question (and owner) names lower-cased, as a
                  resolver that ignores 0x20 would send it; never followed by a good one
  wrong-addr      first an answer from another address (127.0.0.2, same port), then the right one
  ecs             an upstream that tailors answers to EDNS Client Subnet (RFC 7871), as CDNs do:
                  an A query with an IPv4 ECS option a.b.c.0/N gets A 10.a.b.c and the option
                  echoed with SCOPE = SOURCE; without ECS (or with SOURCE 0) A 192.0.2.53 and no
                  scope. It also speaks DNS COOKIE (RFC 7873): a query with a client cookie gets
                  it back followed by a fresh random 8-byte server cookie.

In the "first X, then the right one" modes the right answer follows after --then-ms (default 100)
milliseconds, so a resolver that correctly drops the bad answer still gets the good one in time.
The address 203.0.113.66 and the random bytes must never reach a client.

Every received query is logged (--log) as one line: transport, ID, name, type, flags, EDNS, and
the source port it came from (sport=).
SIGTERM and SIGINT end the program with status 0. "ready" is printed on stdout once listening.
"""

import argparse
import os
import signal
import socket
import struct
import sys
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.name
import dns.rrset

BAD_ADDR = "203.0.113.66"
GOOD_ADDR = "192.0.2.53"

args = None
log_lock = threading.Lock()


def log(line):
    if not args.log:
        return
    with log_lock:
        with open(args.log, "a") as f:
            f.write(line + "\n")


def describe(transport, q, sport=0):
    qn = q.question[0] if len(q.question) else None
    fl = dns.flags.to_text(q.flags) or "-"
    edns = "edns=%d do=%d bufsize=%d opts=%s" % (
        q.edns,
        1 if (q.ednsflags & dns.flags.DO) else 0,
        q.payload if q.edns >= 0 else 0,
        ",".join(str(int(o.otype)) for o in q.options) or "-",
    ) if q.edns >= 0 else "edns=-1"
    return "%s id=%d name=%s type=%s sport=%d flags=%s %s" % (
        transport, q.id, qn.name.to_text() if qn is not None else "-",
        dns.rdatatype.to_text(qn.rdtype) if qn is not None else "-", sport,
        fl.replace(" ", ","), edns)


def answer_for(q, tc=False):
    """The synthesized, correct answer to query Q (a dns.message.Message)."""
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    if q.question:
        qn = q.question[0]
        if qn.rdtype == dns.rdatatype.A and not tc:
            r.answer.append(dns.rrset.from_text(qn.name, 300, "IN", "A", GOOD_ADDR))
        elif qn.rdtype == dns.rdatatype.TXT and not tc:
            strings = ['"%02d%s"' % (i, "y" * 98) for i in range(30)]
            r.answer.append(dns.rrset.from_text_list(qn.name, 300, "IN", "TXT", strings))
    if tc:
        r.flags |= dns.flags.TC
    return r


def ecs_answer(q):
    """Mode ecs: the answer tailored to Q's client subnet, with its ECS and COOKIE options."""
    r = dns.message.make_response(q)
    r.flags |= dns.flags.AA
    addr, opts = GOOD_ADDR, []
    for o in q.options if q.edns >= 0 else []:
        if isinstance(o, dns.edns.ECSOption):
            if o.family == 1 and o.srclen > 0:
                addr = "10." + ".".join(o.address.split(".")[:3])
            opts.append(dns.edns.ECSOption(o.address, o.srclen, o.srclen))
        elif o.otype == dns.edns.OptionType.COOKIE and len(o.data) >= 8:
            opts.append(dns.edns.GenericOption(dns.edns.OptionType.COOKIE,
                                               o.data[:8] + os.urandom(8)))
    if q.edns >= 0:
        r.use_edns(0, payload=1232, options=opts)
    qn = q.question[0]
    if qn.rdtype == dns.rdatatype.A:
        r.answer.append(dns.rrset.from_text(qn.name, 300, "IN", "A", addr))
    return r


def wire(r):
    return r.to_wire(max_size=65535)


def parse(data):
    try:
        return dns.message.from_wire(data)
    except Exception as e:  # noqa: BLE001 - anything unparsable is just logged
        log("unparsable query (%s): %s" % (type(e).__name__, data[:32].hex()))
        return None


def later(ms, fn, *a):
    t = threading.Timer(ms / 1000.0, fn, a)
    t.daemon = True
    t.start()


def lowercased(q):
    """The answer to Q with every name lower-cased (a resolver that does not echo 0x20)."""
    qn = q.question[0]
    low = dns.message.make_query(dns.name.from_text(qn.name.to_text().lower()), qn.rdtype)
    low.id = q.id
    low.flags = q.flags
    return answer_for(low)


def serve_udp(sock, other, addr_other):
    while True:
        data, peer = sock.recvfrom(65535)
        q = parse(data)
        if q is None:
            continue
        log(describe("udp", q, peer[1]))
        mode = args.mode
        good = ecs_answer(q) if mode == "ecs" and q.question else answer_for(q)

        # Default arguments bind this query's values now: the timers fire after the loop has
        # moved on to later queries.
        def send(payload, s=sock, peer=peer):
            try:
                s.sendto(payload, peer)
            except OSError as e:
                log("sendto failed: %s" % e)

        def send_good(payload=wire(good), send=send):
            send(payload)

        if mode == "silent":
            continue
        if mode == "quiet-some":
            if q.question and q.question[0].name.labels[0].lower().startswith(b"quiet"):
                continue
            mode = "good"
        if mode in ("good", "ecs"):
            send_good()
        elif mode == "slow":
            later(args.delay_ms, send_good)
        elif mode == "wrong-id":
            bad = answer_for(q)
            bad.id = (q.id + 0x1234) & 0xFFFF
            send(wire(bad))
            later(args.then_ms, send_good)
        elif mode == "wrong-port":
            send(wire(good), s=other)
            later(args.then_ms, send_good)
        elif mode == "wrong-question":
            bad = dns.message.make_query("poison.invalid.", "A")
            bad = dns.message.make_response(bad)
            bad.id = q.id
            bad.flags |= dns.flags.AA
            bad.answer.append(dns.rrset.from_text("poison.invalid.", 300, "IN", "A", BAD_ADDR))
            send(wire(bad))
            later(args.then_ms, send_good)
        elif mode == "garbage":
            # Random bytes (their ID will not match either).
            send(os.urandom(40 + (q.id % 60)))
            # The right ID, QR=1, QDCOUNT=1, ANCOUNT=1, then too few bytes for the question.
            send(struct.pack("!HHHHHH", q.id, 0x8180, 1, 1, 0, 0) + b"\x07exa")
            # The right ID and question, then an answer record cut off in its middle.
            w = bytearray(wire(good))
            w[6:8] = struct.pack("!H", struct.unpack("!H", w[6:8])[0] + 1)
            send(bytes(w) + b"\xc0\x0c\x00\x01\x00")
            later(args.then_ms, send_good)
        elif mode == "lowercase":
            send(wire(lowercased(q)) if q.question else wire(good))
        elif mode == "wrong-addr":
            send(wire(good), s=addr_other)
            later(args.then_ms, send_good)
        elif mode in ("truncated", "tcp-close"):
            send(wire(answer_for(q, tc=True)))
        else:
            raise SystemExit("unknown mode " + mode)


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def serve_tcp_conn(conn):
    held = []
    try:
        while True:
            hdr = recv_exact(conn, 2)
            if hdr is None:
                return
            data = recv_exact(conn, struct.unpack("!H", hdr)[0])
            if data is None:
                return
            q = parse(data)
            if q is None:
                return
            log(describe("tcp", q, conn.getpeername()[1]))
            if args.mode == "lowercase" and q.question:
                payload = wire(lowercased(q))
            elif args.mode == "ecs" and q.question:
                payload = wire(ecs_answer(q))
            else:
                payload = wire(answer_for(q))
            framed = struct.pack("!H", len(payload)) + payload
            if args.mode == "silent":
                held.append(q)
                continue
            if args.mode == "slow":
                time.sleep(args.delay_ms / 1000.0)
            if args.mode == "tcp-close":
                conn.sendall(framed[: len(framed) // 2])
                time.sleep(0.05)
                return
            conn.sendall(framed)
    except OSError:
        return
    finally:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        conn.close()


def serve_tcp(lsock):
    while True:
        conn, _ = lsock.accept()
        threading.Thread(target=serve_tcp_conn, args=(conn,), daemon=True).start()


def main():
    global args
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", required=True,
                   choices=["good", "silent", "quiet-some", "slow", "wrong-id", "wrong-port", "wrong-question",
                            "garbage", "truncated", "tcp-close", "lowercase", "wrong-addr",
                            "ecs"])
    p.add_argument("--delay-ms", type=int, default=3000)
    p.add_argument("--then-ms", type=int, default=100)
    p.add_argument("--log", default=None)
    p.add_argument("--backend", default=None, help="ignored; answers are synthesized")
    args = p.parse_args()

    def bye(*_):
        os._exit(0)

    signal.signal(signal.SIGTERM, bye)
    signal.signal(signal.SIGINT, bye)

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", args.port))
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    addr_other = None
    if args.mode == "wrong-addr":
        addr_other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        addr_other.bind(("127.0.0.2", args.port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", args.port))
    tcp.listen(64)

    threading.Thread(target=serve_udp, args=(udp, other, addr_other), daemon=True).start()
    threading.Thread(target=serve_tcp, args=(tcp,), daemon=True).start()
    print("ready %d %s" % (args.port, args.mode), flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
