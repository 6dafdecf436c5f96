#!/usr/bin/env python3
"""On-demand variants benchmark, side by side in one run (2 cores):

- cold: every photo of a folder (by default the 18 benchmark photos) at three widths, each URL
  requested once by `--clients` concurrent keep-alive clients, against
  * `imgcache serve` (`/v/<signature>/w:<width>/<sha256>.jpg`, made on first request), and
  * thumbor 7.8 (pip) with its file loader on the same folder, no storage, no result storage,
    one process as it starts by default (`/unsafe/<width>x0/filters:format(jpeg)/<file>`), the
    same widths, JPEG at quality 80 as imgcache's default;
  and `imgcache thumb` making the same 54 thumbnails from the files (the work without HTTP);
- warm: wrk against `imgcache serve` for one made variant, and against nginx serving the same
  bytes from disk, `--runs` times alternating (medians);
- coalescing: 100 identical concurrent requests for a new variant, renders counted by /metrics.

    python3 bench/ondemand_bench.py [--binary PATH] [--photos DIR] [--widths 320,640,1024]
                                    [--clients 4] [--duration 10] [--connections 64] [--runs 3]

Targets (issue 26): cold >= 5x thumbor's requests/s and <= 1.15x the CLI's time; warm >= 1.0x
nginx; 100 identical requests -> 1 render. Needs thumbor (pip install thumbor), nginx-light, wrk.
"""
import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KEY = bytes.fromhex("943b421c9eb07c830af81030552c86009268de4e532ba2ee2eab8247c6da0881")
SALT = bytes.fromhex("520f986b998545b4785e0defbc4f3c1203f22de2374a3d53cb7a7fe9fea309c5")

sys.path.insert(0, HERE)
from serve_bench import free_port, nginx_conf, wrk  # noqa: E402
from sync_bench import serve  # noqa: E402


def signed(options, digest, ext):
    path = f"/{options}/{digest}.{ext}"
    mac = hmac.new(KEY, SALT + path.encode(), hashlib.sha256).digest()
    return "/v/" + base64.urlsafe_b64encode(mac).rstrip(b"=").decode() + path


def wait_for(port, path):
    for _ in range(600):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing answers on {port}{path}")


def fetch_all(port, paths, clients):
    """Each path once, by `clients` keep-alive clients taking the next path; (seconds, statuses)."""
    lock = threading.Lock()
    queue = list(paths)
    statuses = []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if not queue:
                    return
                path = queue.pop(0)
            conn.request("GET", path)
            response = response_ = conn.getresponse()
            response_.read()
            with lock:
                statuses.append(response.status)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, statuses


def metric(port, series):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    found = re.search(re.escape(series) + r" (\d+)", text)
    return int(found.group(1)) if found else 0


def make_cache(args, work, photos):
    """The photos synced from a local origin with one tiny configured variant; their digests."""
    origin, _ = serve(args.photos, latency=0)
    base = f"http://127.0.0.1:{origin.server_address[1]}/"
    seeds = os.path.join(work, "seeds")
    os.makedirs(seeds)
    with open(os.path.join(seeds, "a.md"), "w") as f:
        f.write("---\nimages:\n" + "".join(f'  - url: "{base}{p}"\n' for p in photos) + "---\n")
    config = os.path.join(work, "imgcache.yml")
    with open(config, "w") as f:
        f.write(f"allowPrivate: [127.0.0.1]\nsigningKeys: [{KEY.hex()}]\nsigningSalts: [{SALT.hex()}]\n"
                "variants:\n  tiny: {size: 32x32, formats: [jpeg]}\nonDemand:\n  maxPixels: 20000000\n")
    cache = os.path.join(work, "cache")
    subprocess.run([args.binary, "sync", seeds, "--cache", cache, "--config", config, "--quiet"], check=True)
    origin.shutdown()
    status = json.loads(subprocess.run([args.binary, "status", "--cache", cache, "--config", config, "--json"],
                                       capture_output=True, text=True, check=True).stdout)
    digests = {image["url"][len(base):]: image["digest"] for image in status["images"]}
    return cache, config, digests


def start_imgcache(args, work, cache, config):
    port = free_port()
    log = open(os.path.join(work, "serve.log"), "w")
    process = subprocess.Popen([args.binary, "serve", "--port", str(port), "--cache", cache, "--config", config,
                                "--log-level", "warning"], stdout=log, stderr=log)
    wait_for(port, "/healthz")
    return process, port


def start_thumbor(args, work):
    port = free_port()
    conf = os.path.join(work, "thumbor.conf")
    with open(conf, "w") as f:
        f.write(f"""
LOADER = 'thumbor.loaders.file_loader'
FILE_LOADER_ROOT_PATH = '{args.photos}'
STORAGE = 'thumbor.storages.no_storage'
RESULT_STORAGE = None
QUALITY = 80
ALLOW_UNSAFE_URL = True
AUTO_WEBP = False
""")
    log = open(os.path.join(work, "thumbor.log"), "w")
    process = subprocess.Popen(["thumbor", "--port", str(port), "--conf", conf, "-l", "error"], stdout=log, stderr=log)
    wait_for(port, "/healthcheck")
    return process, port


def cold(args, work, photos, digests):
    widths = [int(w) for w in args.widths.split(",")]
    cache, config, digests = digests
    server, port = start_imgcache(args, work, cache, config)
    try:
        paths = [signed(f"w:{w}", digests[p], "jpg") for w in widths for p in photos]
        seconds, statuses = fetch_all(port, paths, args.clients)
        made = metric(port, 'imgcache_variant_renders_total{outcome="made"}')
        assert statuses.count(200) == len(paths), statuses
        # Coalescing: 100 identical requests at once for a variant nobody asked for yet.
        fresh = signed("w:500,h:500,fit:cover,g:attention", digests[photos[0]], "webp")
        _, same = fetch_all(port, [fresh] * 100, 100)
        coalesced = metric(port, 'imgcache_variant_renders_total{outcome="made"}') - made
        # The first photo at the first and second widths: a thumbnail-sized file and a larger one.
        warm_paths = [paths[0], paths[len(photos)]]
        files = os.path.join(work, "nginx-files")
        os.makedirs(files, exist_ok=True)
        sizes = []
        for n, path in enumerate(warm_paths):
            conn = http.client.HTTPConnection("127.0.0.1", port)
            conn.request("GET", path)
            body = conn.getresponse().read()
            sizes.append(len(body))
            with open(os.path.join(files, f"v{n}.jpg"), "wb") as f:
                f.write(body)
    except BaseException:
        server.terminate()
        raise
    thumbor, tport = start_thumbor(args, work)
    try:
        tpaths = [f"/unsafe/{w}x0/filters:format(jpeg)/{p}" for w in widths for p in photos]
        tseconds, tstatuses = fetch_all(tport, tpaths, args.clients)
        assert tstatuses.count(200) == len(tpaths), tstatuses
    finally:
        thumbor.terminate()
        thumbor.wait()
    # The same work from the command line: one `imgcache thumb` per width over the files.
    start = time.perf_counter()
    for w in widths:
        out = os.path.join(work, f"thumb-{w}")
        subprocess.run([args.binary, "thumb", "--size", f"{w}x{w * 100}", "--format", "jpeg", "-o", out, "--quiet"]
                       + [os.path.join(args.photos, p) for p in photos], check=True)
    cli = time.perf_counter() - start
    nport = free_port()
    conf = nginx_conf(work, nport, files)
    nginx = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    warm = []
    try:
        wait_for(nport, "/img/v0.jpg")
        for n, path in enumerate(warm_paths):
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(wrk(f"http://127.0.0.1:{port}{path}", args))
                theirs.append(wrk(f"http://127.0.0.1:{nport}/img/v{n}.jpg", args))
            warm.append((sizes[n], sorted(ours)[len(ours) // 2], sorted(theirs)[len(theirs) // 2]))
    finally:
        nginx.terminate()
        nginx.wait()
        server.terminate()
        server.wait()
    return dict(n=len(paths), seconds=seconds, made=made, thumbor=tseconds, cli=cli, coalesced=coalesced,
                same=same.count(200), warm=warm)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/imgcache"))
    parser.add_argument("--photos", default=os.path.join(ROOT, "../shared/corpus/photos"))
    parser.add_argument("--widths", default="320,640,1024")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    args.photos = os.path.abspath(args.photos)
    for tool in ["thumbor", "nginx", "wrk"]:
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (pip install thumbor; apt-get install -y nginx-light wrk)")
    photos = sorted(p for p in os.listdir(args.photos) if p.lower().endswith((".jpg", ".jpeg", ".png")))
    work = tempfile.mkdtemp(prefix="ondemand-bench-")
    try:
        cache = make_cache(args, work, photos)
        r = cold(args, work, photos, cache)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    n = r["n"]
    print(f"## On-demand variants: {len(photos)} photos x {args.widths} px, {args.clients} clients, {os.cpu_count()} cores\n")
    print("| case | imgcache | peer | ratio | target |")
    print("|---|---|---|---|---|")
    ours, theirs = n / r["seconds"], n / r["thumbor"]
    print(f"| cold renders/s vs thumbor 7.8 | {ours:.1f} ({r['seconds']:.2f} s, {r['made']} renders) | "
          f"{theirs:.1f} ({r['thumbor']:.2f} s) | {ours / theirs:.2f}x | >= 5x |")
    print(f"| cold time vs `imgcache thumb` (same {n} thumbnails) | {r['seconds']:.2f} s | {r['cli']:.2f} s | "
          f"{r['seconds'] / r['cli']:.2f}x | <= 1.15x |")
    for size, (rps, p99, errors), (nrps, np99, _) in r["warm"]:
        print(f"| warm req/s vs nginx ({size:,} bytes, -c{args.connections}, median of {args.runs}) | {rps:,.0f} (p99 {p99:.2f} ms, "
              f"{errors} errors) | {nrps:,.0f} (p99 {np99:.2f} ms) | {rps / nrps:.2f}x | >= 1.0x |")
    print(f"| 100 identical concurrent requests for a new variant | {r['coalesced']} render, {r['same']} x 200 | | | 1 render |")


if __name__ == "__main__":
    main()
