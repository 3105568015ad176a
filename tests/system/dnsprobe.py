#!/usr/bin/python3
"""dnsprobe: client-side helpers for blokir's system tests, for what dig cannot do.

  flood     --port P --seconds S --names N1,N2 [--threads T] [--tcp] [--stop-file F]
            queries continuously (each thread sequentially, 2 s timeout per query) and prints
            "sent=N answered=N lost=N rcodes=NAME:COUNT,..."
  hostile   --port P --case CASE [--tcp]
            sends one hand-made packet and prints "answer rcode=NAME id=N flags=..." or "noanswer"
            cases: short qr1 qd0 qd2 notify status twoopt ednsv1 random header-only
  pipeline  --port P --queries NAME/TYPE,... [--raw-out]
            one TCP connection, every query written at once before reading, then reads the
            answers (any order); prints "answer id=N name=... rcode=... match=yes|no" per answer
            and a final "got=N of=M"
  tcp-idle  --port P [--max S]
            connects, sends nothing, prints "closed-after=SECONDS" (or "still-open")
  tcp-junk  --port P --case CASE
            cases: badlen (length prefix 0 / huge with no data), midframe (half a frame, then
            close); prints "done"
  inflight  --port P --names N1,N2 [--timeout S]
            sends all UDP queries at once and waits for every answer; prints one line each
"""

import argparse
import os
import random
import socket
import struct
import sys
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype


def describe(data):
    try:
        m = dns.message.from_wire(data, ignore_trailing=True)
    except dns.message.BadEDNS:
        return "answer unparsable-edns id=%d" % struct.unpack("!H", data[:2])[0]
    except Exception as e:  # noqa: BLE001
        if len(data) >= 4:
            fl = struct.unpack("!H", data[2:4])[0]
            return "answer rcode=%s id=%d raw-flags=0x%04x unparsable=%s" % (
                dns.rcode.to_text(fl & 0xF), struct.unpack("!H", data[:2])[0], fl, type(e).__name__)
        return "answer short=%d" % len(data)
    name = m.question[0].name.to_text() if len(m.question) else "-"
    return "answer rcode=%s id=%d opcode=%s flags=%s name=%s qd=%d an=%d opt=%s" % (
        dns.rcode.to_text(m.rcode()), m.id, dns.opcode.to_text(m.opcode()),
        (dns.flags.to_text(m.flags) or "-").replace(" ", ","), name, len(m.question),
        len(m.answer), m.edns)


def udp_exchange(port, payload, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(payload, ("127.0.0.1", port))
        data, _ = s.recvfrom(65535)
        return data
    except socket.timeout:
        return None
    finally:
        s.close()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def tcp_exchange(port, payload, timeout=2.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(struct.pack("!H", len(payload)) + payload)
        hdr = recv_exact(s, 2)
        if hdr is None:
            return None
        return recv_exact(s, struct.unpack("!H", hdr)[0])
    except (socket.timeout, ConnectionError):
        return None
    finally:
        s.close()


def hostile_packet(case):
    qid = random.randrange(65536)
    q = dns.message.make_query("www.example.test.", "A", id=qid)
    wire = q.to_wire()
    hdr = lambda flags, qd, an=0, ns=0, ar=0: struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)
    question = wire[12:]
    if case == "short":
        return os.urandom(11)
    if case == "header-only":
        return hdr(0x0100, 1)
    if case == "qr1":
        return hdr(0x8100, 1) + question
    if case == "qd0":
        return hdr(0x0100, 0)
    if case == "qd2":
        return hdr(0x0100, 2) + question + question
    if case == "notify":
        return hdr(0x0100 | (4 << 11), 1) + question
    if case == "status":
        return hdr(0x0100 | (2 << 11), 1) + question
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)
    if case == "twoopt":
        return hdr(0x0100, 1, ar=2) + question + opt + opt
    if case == "ednsv1":
        opt1 = b"\x00" + struct.pack("!HHIH", 41, 1232, 1 << 16, 0)
        return hdr(0x0100, 1, ar=1) + question + opt1
    if case == "random":
        return os.urandom(random.randrange(12, 300))
    raise SystemExit("unknown case " + case)


def cmd_hostile(a):
    p = hostile_packet(a.case)
    data = (tcp_exchange if a.tcp else udp_exchange)(a.port, p, a.timeout)
    print(describe(data) if data else "noanswer")


def cmd_flood(a):
    names = a.names.split(",")
    lock = threading.Lock()
    counts = {"sent": 0, "answered": 0}
    rcodes = {}
    deadline = time.time() + a.seconds

    def worker(n):
        i = n
        while time.time() < deadline and not (a.stop_file and os.path.exists(a.stop_file)):
            name = names[i % len(names)]
            i += 1
            q = dns.message.make_query(name, "A")
            data = (tcp_exchange if a.tcp else udp_exchange)(a.port, q.to_wire(), 2.0)
            with lock:
                counts["sent"] += 1
                if data:
                    try:
                        r = dns.message.from_wire(data)
                        ok = r.id == q.id
                    except Exception:  # noqa: BLE001
                        ok = False
                    if ok:
                        counts["answered"] += 1
                        rc = dns.rcode.to_text(r.rcode())
                        rcodes[rc] = rcodes.get(rc, 0) + 1

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("sent=%d answered=%d lost=%d rcodes=%s" % (
        counts["sent"], counts["answered"], counts["sent"] - counts["answered"],
        ",".join("%s:%d" % kv for kv in sorted(rcodes.items()))))


def cmd_pipeline(a):
    qs = []
    for item in a.queries.split(","):
        name, _, typ = item.partition("/")
        qs.append(dns.message.make_query(name, typ or "A", use_edns=0))
    ids = set()
    for q in qs:  # distinct IDs so every answer can be matched
        while q.id in ids:
            q.id = random.randrange(65536)
        ids.add(q.id)
    byid = {q.id: q for q in qs}
    blob = b"".join(struct.pack("!H", len(w)) + w for w in (q.to_wire() for q in qs))
    s = socket.create_connection(("127.0.0.1", a.port), timeout=a.timeout)
    s.sendall(blob)
    got = 0
    try:
        while got < len(qs):
            hdr = recv_exact(s, 2)
            if hdr is None:
                break
            data = recv_exact(s, struct.unpack("!H", hdr)[0])
            if data is None:
                break
            r = dns.message.from_wire(data)
            q = byid.get(r.id)
            match = q is not None and len(r.question) == 1 and r.question[0].name == q.question[0].name
            print("answer id=%d name=%s rcode=%s an=%d match=%s" % (
                r.id, r.question[0].name if len(r.question) else "-",
                dns.rcode.to_text(r.rcode()), len(r.answer), "yes" if match else "no"))
            if q is not None:
                del byid[r.id]
            got += 1
    except (socket.timeout, ConnectionError) as e:
        print("error %s" % type(e).__name__)
    finally:
        s.close()
    print("got=%d of=%d" % (got, len(qs)))


def cmd_tcp_idle(a):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=a.max)
    t0 = time.time()
    try:
        data = s.recv(1)
        print("closed-after=%.2f" % (time.time() - t0) if not data else "got-data")
    except socket.timeout:
        print("still-open")
    except ConnectionError:
        print("closed-after=%.2f" % (time.time() - t0))


def cmd_tcp_junk(a):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=3)
    q = dns.message.make_query("www.example.test.", "A").to_wire()
    try:
        if a.case == "badlen":
            s.sendall(b"\x00\x00")          # a zero-length frame
            s.sendall(b"\xff\xff" + b"x" * 10)  # a 65535-byte frame that never completes
        elif a.case == "midframe":
            s.sendall(struct.pack("!H", len(q)) + q[: len(q) // 2])
        elif a.case == "short-frame":
            s.sendall(struct.pack("!H", 5) + b"\x12\x34\x01\x00\x00")
            time.sleep(0.2)
        time.sleep(0.1)
    except ConnectionError:
        pass
    s.close()
    print("done")


def cmd_inflight(a):
    socks = []
    for name in a.names.split(","):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        q = dns.message.make_query(name, "A")
        s.sendto(q.to_wire(), ("127.0.0.1", a.port))
        socks.append((name, q, s))
    deadline = time.time() + a.timeout
    for name, q, s in socks:
        s.settimeout(max(0.01, deadline - time.time()))
        try:
            data, _ = s.recvfrom(65535)
            r = dns.message.from_wire(data)
            print("%s rcode=%s an=%d idok=%s" % (name, dns.rcode.to_text(r.rcode()), len(r.answer),
                                                 "yes" if r.id == q.id else "no"))
        except socket.timeout:
            print("%s noanswer" % name)
        s.close()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flood")
    f.add_argument("--port", type=int, required=True)
    f.add_argument("--seconds", type=float, default=5)
    f.add_argument("--names", required=True)
    f.add_argument("--threads", type=int, default=4)
    f.add_argument("--tcp", action="store_true")
    f.add_argument("--stop-file")
    h = sub.add_parser("hostile")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--case", required=True)
    h.add_argument("--tcp", action="store_true")
    h.add_argument("--timeout", type=float, default=1.5)
    pl = sub.add_parser("pipeline")
    pl.add_argument("--port", type=int, required=True)
    pl.add_argument("--queries", required=True)
    pl.add_argument("--timeout", type=float, default=5)
    ti = sub.add_parser("tcp-idle")
    ti.add_argument("--port", type=int, required=True)
    ti.add_argument("--max", type=float, default=10)
    tj = sub.add_parser("tcp-junk")
    tj.add_argument("--port", type=int, required=True)
    tj.add_argument("--case", required=True)
    fl = sub.add_parser("inflight")
    fl.add_argument("--port", type=int, required=True)
    fl.add_argument("--names", required=True)
    fl.add_argument("--timeout", type=float, default=8)
    a = p.parse_args()
    {"flood": cmd_flood, "hostile": cmd_hostile, "pipeline": cmd_pipeline,
     "tcp-idle": cmd_tcp_idle, "tcp-junk": cmd_tcp_junk, "inflight": cmd_inflight}[a.cmd](a)


if __name__ == "__main__":
    main()
