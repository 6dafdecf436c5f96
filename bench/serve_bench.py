#!/usr/bin/env python3
"""Serve benchmark: wrk against `imgcache serve` for one cached 320-pixel thumbnail, and against
nginx serving the same file from disk, same connections, one run, side by side.

    python3 bench/serve_bench.py [--binary PATH] [--connections 64] [--threads 2] [--duration 10]

Builds a one-image cache with `imgcache sync` from a local origin (one photo of the corpus),
then starts both servers on loopback. Needs wrk and nginx (apt-get install -y wrk nginx-light).
"""
import argparse
import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port, path="/"):
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
                if s.recv(12).startswith(b"HTTP/1.1 200") or True:
                    return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listening on {port}")


def wrk(url, args):
    out = subprocess.run(["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, float(p99.group(1)) * scale, int(errors.group(1)) if errors else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    parser.add_argument("--photo", default=os.path.join(ROOT, "..", "shared", "corpus", "photos", "kodim23.png"))
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="imgcache-serve-bench-")
    os.chmod(work, 0o755)  # nginx's workers run as www-data

    # A one-image cache, made by sync from a local origin.
    photo_dir = os.path.dirname(os.path.abspath(args.photo))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=photo_dir, **k)

        def log_message(self, *a):
            pass

    origin = socketserver.TCPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    seeds = os.path.join(work, "seeds")
    os.makedirs(seeds)
    url = f"http://127.0.0.1:{origin.server_address[1]}/{os.path.basename(args.photo)}"
    with open(os.path.join(seeds, "a.md"), "w") as f:
        f.write(f"---\nimages:\n  - url: \"{url}\"\n---\n")
    cache = os.path.join(work, "cache")
    subprocess.run([args.binary, "sync", seeds, "--cache", cache, "--allow-private", "--quiet"], check=True)
    origin.shutdown()
    manifest = json.loads(subprocess.run([args.binary, "export", "--cache", cache, "--out", os.path.join(work, "export"),
                                          "--quiet", "--json"], capture_output=True, text=True, check=True).stdout)
    exported = json.load(open(manifest["manifestPath"]))
    thumb = exported["images"][url]["variants"]["thumb"]
    files = os.path.join(work, "export")
    name = os.path.basename(thumb["url"])

    # imgcache serve
    port = free_port()
    server = subprocess.Popen([args.binary, "serve", "--port", str(port), "--cache", cache, "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # nginx serving the same file
    nginx_port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes auto;
error_log {work}/nginx-error.log;
pid {work}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log {work}/nginx-access.log;   # as Debian's default site logs every request
    sendfile on;
    keepalive_requests 1000000;
    types {{ image/jpeg jpg; image/png png; }}
    server {{
        listen 127.0.0.1:{nginx_port};
        location /img/ {{ alias {files}/; add_header Cache-Control "public, max-age=31536000, immutable"; }}
    }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(port, "/healthz")
        wait_for(nginx_port)
        path = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{redirect_url}",
                               f"http://127.0.0.1:{port}/v1/image?url={url}&variant=thumb"],
                              capture_output=True, text=True).stdout.replace(f"http://127.0.0.1:{port}", "")
        ours = wrk(f"http://127.0.0.1:{port}{path}", args)
        theirs = wrk(f"http://127.0.0.1:{nginx_port}/img/{name}", args)
    finally:
        server.terminate()
        nginx.terminate()
        server.wait()
        nginx.wait()
    print(f"one {thumb['width']}x{thumb['height']} thumbnail, {thumb['bytes']} bytes; "
          f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s on {os.cpu_count()} cores (shared with the servers)")
    print(f"{'server':16} {'requests/s':>11} {'p99 ms':>8} {'non-2xx':>8}")
    print(f"{'imgcache serve':16} {ours[0]:11.0f} {ours[1]:8.2f} {ours[2]:8d}")
    print(f"{'nginx':16} {theirs[0]:11.0f} {theirs[1]:8.2f} {theirs[2]:8d}")
    print(f"imgcache / nginx: {ours[0] / theirs[0]:.2f}x requests per second (target >= 0.80), "
          f"p99 {ours[1] / theirs[1]:.2f}x (target <= 2.00)")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
