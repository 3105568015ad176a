"""free_port.py: prints a port number free for both UDP and TCP on 127.0.0.1 (and on ::1 when the
machine has IPv6), chosen by the kernel. The sockets are closed before it returns, so there is a
small race with other programs; callers bind immediately afterwards. Used by the system tests
(tests/system/lib.sh) and the benchmarks (bench/lib.sh)."""
import socket

for _ in range(200):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", port))
        u.close()
        try:
            for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET6, typ)
                s.bind(("::1", port))
                s.close()
        except OSError as e:
            if e.errno not in (97, 99):  # no IPv6 at all is fine; "in use" is not
                raise
    except OSError:
        t.close()
        continue
    t.close()
    print(port)
    break
