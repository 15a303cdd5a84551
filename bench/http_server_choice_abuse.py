"""Raw-socket measurements for bench/http_server_choice.sh: PORT PID of the server."""
import os, socket, sys, threading, time

port, pid = int(sys.argv[1]), sys.argv[2]

def status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return line.split()[1]

def scrape(timeout=15):
    start = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return data[:12].decode(errors="replace"), time.monotonic() - start
    except OSError as e:
        return f"error {e.__class__.__name__}", time.monotonic() - start

def raw(request, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(request)
        data = s.recv(200)
        return data.split(b"\r\n")[0].decode(errors="replace") or "(closed, no response)"
    except OSError as e:
        return f"({e.__class__.__name__})"
    finally:
        s.close()

# 500 idle connections.
rss0, threads0 = int(status(pid, "VmRSS")), status(pid, "Threads")
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(500)]
time.sleep(0.5)
line, took = scrape()
print(f"500 idle connections: scrape {line!r} in {took:.2f} s; server RSS +{int(status(pid, 'VmRSS')) - rss0} kB, threads {threads0} -> {status(pid, 'Threads')}")
for s in idle:
    s.close()
time.sleep(0.5)

# Slowloris: one byte every 100 ms for up to 15 s.
s = socket.create_connection(("127.0.0.1", port))
request = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 1000
start, cut = time.monotonic(), None
for b in request:
    try:
        s.sendall(bytes([b]))
        s.setblocking(False)
        try:
            if s.recv(200) is not None:
                cut = time.monotonic() - start
                break
        except BlockingIOError:
            pass
        s.setblocking(True)
    except OSError:
        cut = time.monotonic() - start
        break
    if time.monotonic() - start > 15:
        break
    time.sleep(0.1)
s.close()
print("slowloris (1 byte / 100 ms): " + (f"cut off after {cut:.1f} s" if cut else "still open after 15 s"))

for name, request in [
    ("header without colon", b"GET /metrics HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"),
    ("bare LF", b"GET /metrics HTTP/1.1\nHost: x\n\n"),
    ("HTTP/0.9", b"GET /metrics\r\n"),
    ("TE + CL", b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("64 KiB header", b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 65536 + b"\r\n\r\n"),
]:
    print(f"{name}: {raw(request)}")
