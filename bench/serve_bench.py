#!/usr/bin/env python3
"""Serve benchmark: wrk against `imgcache serve` and against nginx serving the same bytes from
disk, for every size a page loads: a `thumb`, a `large` variant and a ~2 MB original (GET), plus a
HEAD and a 304 (If-None-Match) of the `large` variant. Both servers alike: no access log line per
request (imgcache at --log-level warning, nginx with access_log off), keep-alive, sendfile on for
nginx. Each case is run `--runs` times, alternating the servers; the table gives the median and
the spread (min-max) of requests/s and p99, and the ratios of the medians.

    python3 bench/serve_bench.py [--binary PATH] [--photo FILE] [--runs 5] [--duration 10]
                                 [--connections 64] [--threads 2]

Builds a one-image cache with `imgcache sync` from a local origin (by default the largest photo of
the corpus, 2.4 MB), exports it for nginx, then starts both servers on loopback. Needs wrk and
nginx (apt-get install -y wrk nginx-light apache2-utils: ApacheBench times the HEAD case, which
wrk cannot). Targets: >= 0.8x nginx's requests/s, p99 <= 2x.
"""
import argparse
import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import statistics
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


def wrk(url, args, header=None):
    """Requests/s, p99 ms, non-2xx/3xx count of one wrk run."""
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    if header:
        cmd += ["-H", header]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, float(p99.group(1)) * scale, int(errors.group(1)) if errors else 0


def ab_head(url, args):
    """wrk cannot time HEAD (it waits for a body that never comes): ApacheBench's -i does, one thread."""
    try:
        out = subprocess.run(["ab", "-q", "-k", "-i", "-s", "5", "-c", str(args.connections), "-t", str(args.duration),
                              "-n", "10000000", url], capture_output=True, text=True, timeout=args.duration + 20).stdout
        rps = float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1))
        p99 = float(re.search(r"\n\s*99%\s+(\d+)", out).group(1))
        failed = int(re.search(r"Failed requests:\s+(\d+)", out).group(1))
        return rps, p99, failed
    except (subprocess.TimeoutExpired, AttributeError):
        # ApacheBench speaks HTTP/1.0 keep-alive; a server that neither says keep-alive nor closes stalls it.
        return 0.0, 0.0, 0


def etag(url):
    out = subprocess.run(["curl", "-s", "-I", url], capture_output=True, text=True).stdout
    found = re.search(r"(?im)^etag:\s*(.+?)\s*$", out)
    return found.group(1) if found else None


def make_cache(args, work):
    """A one-image cache made by sync from a local origin, and its export for nginx."""
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
    out = os.path.join(work, "export")
    manifest = json.loads(subprocess.run([args.binary, "export", "--cache", cache, "--out", out, "--quiet", "--json"],
                                         capture_output=True, text=True, check=True).stdout)
    image = json.load(open(manifest["manifestPath"]))["images"][url]
    return cache, out, image


def nginx_conf(work, port, files, http2=False, connections=1024):
    """nginx serving `files` under /img/ on 127.0.0.1:`port` (HTTP/2 with prior knowledge when `http2`)."""
    path = os.path.join(work, "nginx-h2.conf" if http2 else "nginx.conf")
    with open(path, "w") as f:
        f.write(f"""
worker_processes auto;
error_log {work}/nginx-error.log;
pid {work}/nginx.pid;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    types {{ image/jpeg jpg; image/png png; image/webp webp; image/avif avif; }}
    server {{
        listen 127.0.0.1:{port}{" http2" if http2 else ""};
        location /img/ {{ alias {files}/; add_header Cache-Control "public, max-age=31536000, immutable"; }}
    }}
}}
""")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    parser.add_argument("--photo", default=os.path.join(ROOT, "..", "shared", "corpus", "photos",
                                                        "seondol-son-skcD9ONunJw-unsplash.jpg"))
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="imgcache-serve-bench-")
    os.chmod(work, 0o755)  # nginx's workers run as www-data
    cache, files, image = make_cache(args, work)

    port, nginx_port = free_port(), free_port()
    server = subprocess.Popen([args.binary, "serve", "--port", str(port), "--cache", cache, "--log-level", "warning"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nginx = subprocess.Popen(["nginx", "-c", nginx_conf(work, nginx_port, files), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours_base, theirs_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{nginx_port}/img/"
    wait_for(port, "/healthz")
    # The server's own URLs (/t/<digest>/<variant>.<ext>) from its manifest; nginx's are the export's names.
    served = next(iter(json.loads(subprocess.run(["curl", "-s", ours_base + "/v1/manifest"], capture_output=True,
                                                 text=True).stdout)["images"].values()))["variants"]
    thumb, large = image["variants"]["thumb"], image["variants"]["large"]
    thumb["path"], large["path"] = served["thumb"]["url"], served["large"]["url"]
    digest = served["thumb"]["url"].split("/")[2]
    original = f"/o/{digest}.jpg"
    cases = [
        (f"GET thumb ({thumb['bytes'] / 1e3:.0f} KB)", thumb["path"], os.path.basename(thumb["url"]), None),
        (f"GET large ({large['bytes'] / 1e3:.0f} KB)", large["path"], os.path.basename(large["url"]), None),
        (f"GET original ({os.path.getsize(args.photo) / 1e6:.1f} MB)", original, None, None),
        ("HEAD large", large["path"], os.path.basename(large["url"]), "head"),
        ("304 large (If-None-Match)", large["path"], os.path.basename(large["url"]), "304"),
    ]
    rows = []
    try:
        wait_for(nginx_port)
        # nginx serves the original from a copy of the same bytes.
        shutil.copyfile(args.photo, os.path.join(files, "original.jpg"))
        for name, ours_path, theirs_name, kind in cases:
            ours_url = ours_base + ours_path
            theirs_url = theirs_base + (theirs_name or "original.jpg")
            subprocess.run(["curl", "-s", "-o", "/dev/null", ours_url])  # warm both
            subprocess.run(["curl", "-s", "-o", "/dev/null", theirs_url])
            results = {"imgcache": [], "nginx": []}
            for _ in range(args.runs):
                for who, url in (("imgcache", ours_url), ("nginx", theirs_url)):
                    header = f"If-None-Match: {etag(url)}" if kind == "304" else None
                    results[who].append(ab_head(url, args) if kind == "head" else wrk(url, args, header=header))
            rows.append((name, results))
    finally:
        server.terminate()
        nginx.terminate()
        server.wait()
        nginx.wait()
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.runs} runs per case alternating the "
          f"servers, {os.cpu_count()} cores shared by wrk and the server; neither server logs requests\n")
    print("| case | imgcache req/s (min-max) | nginx req/s (min-max) | ratio | imgcache p99 ms | nginx p99 ms | p99 ratio | non-2xx/3xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, results in rows:
        med = {who: (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)) for who, runs in results.items()}
        spread = {who: (min(r[0] for r in runs), max(r[0] for r in runs)) for who, runs in results.items()}
        errors = sum(r[2] for runs in results.values() for r in runs)
        if min(med["imgcache"][0], med["nginx"][0]) == 0:
            print(f"| {name} | {med['imgcache'][0]:,.0f} | {med['nginx'][0]:,.0f} | n/a: a server finished no request "
                  f"in time (imgcache leaves HTTP/1.0 keep-alive connections hanging: found by this bench) |")
            continue
        print(f"| {name} | {med['imgcache'][0]:,.0f} ({spread['imgcache'][0]:,.0f}-{spread['imgcache'][1]:,.0f}) "
              f"| {med['nginx'][0]:,.0f} ({spread['nginx'][0]:,.0f}-{spread['nginx'][1]:,.0f}) "
              f"| {med['imgcache'][0] / med['nginx'][0]:.2f} | {med['imgcache'][1]:.2f} | {med['nginx'][1]:.2f} "
              f"| {med['imgcache'][1] / med['nginx'][1]:.2f} | {errors} |")
    print("\ntargets: ratio >= 0.80, p99 ratio <= 2.00")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
