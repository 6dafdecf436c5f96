#!/usr/bin/env python3
"""Manifest under load: `imgcache serve` on an index of 50,000 URLs while 8 clients loop on
/v1/manifest (wrk, no If-None-Match: the whole JSON every time), and one client asks for
thumbnails that are not in the server's memory yet (a different file each request). Reports
the manifest's requests/s and the thumbnail latencies (p50, p99, max), beside the same
thumbnail requests with no manifest load. Target: thumbnail p99 <= 50 ms under the load.

    python3 bench/manifest_bench.py [--binary .build/release/imgcache] [--urls 50000] [--seconds 15]

Needs wrk. The index is made by a real sync of one image, then rows for the other URLs
(thumbnail rows point at real files for the first 2,000).
"""
import argparse
import hashlib
import http.client
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import seed_bench  # noqa: E402  (its local origin)

THUMB_SPEC = "thumb:320x320:inside:auto:q80:v1"


def fan(kind, name, suffix=""):
    return os.path.join(kind, name[:2], name[2:4], name + suffix)


def make_cache(binary, work, urls, with_files):
    origin = seed_bench.start_origin()
    seeds = os.path.join(work, "seeds")
    os.makedirs(seeds)
    logo = f"http://127.0.0.1:{origin.server_address[1]}/logo.jpg"
    with open(os.path.join(seeds, "real.md"), "w") as f:
        f.write(f"---\nimages:\n  - url: {logo}\n---\n")
    cache = os.path.join(work, "cache")
    subprocess.run([binary, "sync", seeds, "--cache", cache, "--allow-private", "--quiet"], check=True)
    origin.shutdown()
    db = sqlite3.connect(os.path.join(cache, "index.sqlite"))
    digest, key, thumb_bytes = db.execute(
        "SELECT digest, key, bytes FROM thumbnails WHERE variant = 'thumb'").fetchone()
    if hashlib.sha256(f"{digest}|{THUMB_SPEC}".encode()).hexdigest() != key:
        sys.exit("the thumbnail key recipe changed: update THUMB_SPEC in bench/manifest_bench.py")
    thumb = open(os.path.join(cache, fan("thumbs", key, ".jpg")), "rb").read()
    thumb_hash = hashlib.sha256(thumb).hexdigest()
    objects, thumbs, sources, refs, probes = [], [], [], [], []
    for i in range(urls):
        d = hashlib.sha256(f"image {i}".encode()).hexdigest()
        k = hashlib.sha256(f"{d}|{THUMB_SPEC}".encode()).hexdigest()
        url = f"https://cdn.example.com/images/{i}.jpg"
        objects.append((d, 100_000, "jpeg", 2000, 1500, "2026-01-01 00:00:00.000", "LEHV6nWB2yk8pyo0adR*.7kCMdnj", "#336699"))
        thumbs.append((k, d, "thumb", 320, 240, "jpeg", len(thumb), "2026-01-01 00:00:00.000", thumb_hash))
        sources.append((url, d, 2000, 1500, 2000, 1500, "2026-01-01 00:00:00.000"))
        refs.append((f"seeds/post-{i // 100:04d}.md", url, 3))
        if i < with_files:
            path = os.path.join(cache, fan("thumbs", k, ".jpg"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(thumb)
            probes.append(f"/t/{d}/thumb.jpg")
    db.executemany("INSERT INTO objects (digest, bytes, format, width, height, created_at, blurhash, dominant_color) "
                   "VALUES (?,?,?,?,?,?,?,?)", objects)
    db.executemany("INSERT INTO thumbnails (key, digest, variant, width, height, format, bytes, created_at, sha256) "
                   "VALUES (?,?,?,?,?,?,?,?,?)", thumbs)
    db.executemany("INSERT INTO sources (url, digest, status, is_cached, declared_width, declared_height, decoded_width, "
                   "decoded_height, updated_at) VALUES (?,?,'ok',1,?,?,?,?,?)", sources)
    db.executemany("INSERT INTO seed_references (seed_path, url, line) VALUES (?,?,?)", refs)
    db.commit()
    db.close()
    return cache, probes


def probe(port, paths):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    for path in paths:
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            sys.exit(f"{path}: HTTP {response.status}")
        time.sleep(0.01)
    connection.close()
    latencies.sort()
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1], latencies[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/imgcache"))
    parser.add_argument("--urls", type=int, default=50_000)
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    work = tempfile.mkdtemp(prefix="imgcache-manifest-bench-")
    cache, probes = make_cache(args.binary, work, args.urls, 2_000)
    port = seed_bench.free_port()
    server = subprocess.Popen([args.binary, "serve", "--cache", cache, "--port", str(port), "--log-level", "warning"])
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.1)
        started = time.perf_counter()
        first = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        first.request("GET", "/v1/manifest")
        size = len(first.getresponse().read())
        build = time.perf_counter() - started
        quiet = probe(port, probes[:400])
        load = subprocess.Popen(["wrk", "-t2", "-c8", f"-d{args.seconds}s", f"http://127.0.0.1:{port}/v1/manifest"],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        loaded = probe(port, probes[400:1400])
        out = load.communicate()[0]
        rate = next((line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")), "?")
        print(f"manifest of {args.urls:,} URLs: {size / 1e6:.1f} MB, first request (build) {build:.2f} s, "
              f"{rate} requests/s from 8 looping clients")
        print("| thumbnails not in memory | p50 ms | p99 ms | max ms |")
        print("|---|---:|---:|---:|")
        print(f"| no load (400 requests) | {quiet[0]:.2f} | {quiet[1]:.2f} | {quiet[2]:.2f} |")
        print(f"| 8 clients looping on the manifest (1,000 requests) | {loaded[0]:.2f} | {loaded[1]:.2f} | {loaded[2]:.2f} |")
        print(f"target p99 <= 50 ms: {'met' if loaded[1] <= 50 else 'NOT met'}")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
