#!/usr/bin/python3
"""notifyd: stands in for systemd's notification socket in the system tests.

  notifyd.py --socket PATH --log FILE --port P

Binds a unix datagram socket at PATH (for NOTIFY_SOCKET) and appends one line per message to
FILE, the message's lines joined with "|". On every message with READY=1 it first sends a DNS
query for t.me to 127.0.0.1:P and appends " answered=yes|no": READY=1 must come only once the
sockets are bound and serving. Prints "ready" once bound; runs until killed.
"""
import argparse
import os
import socket
import struct


def answers(port):
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x01t\x02me\x00" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    try:
        s.sendto(q, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
        return len(data) >= 12 and data[:2] == b"\x42\x42"
    except OSError:
        return False
    finally:
        s.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--port", type=int, required=True)
    a = ap.parse_args()
    try:
        os.unlink(a.socket)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(a.socket)
    os.chmod(a.socket, 0o777)  # a daemon that dropped privileges still reaches it
    print("ready", flush=True)
    while True:
        msg = s.recv(65536).decode("utf-8", "replace")
        line = "|".join(msg.split("\n"))
        if "READY=1" in msg.split("\n"):
            line += " answered=" + ("yes" if answers(a.port) else "no")
        with open(a.log, "a") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    main()
