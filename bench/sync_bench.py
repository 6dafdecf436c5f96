#!/usr/bin/env python3
"""Sync benchmark: `imgcache sync` against the pipeline a user would script (curl --parallel,
then vipsthumbnail once per variant and format: JPEG and WebP, imgcache's defaults), on the same 200 images behind the same local origin
that adds 50 ms of latency to every request. Whole processes, one run, side by side.

    python3 bench/sync_bench.py [--photos DIR] [--binary PATH] [--latency 0.05]

The 200 images: the 13 JPEGs of the photo folder re-encoded by vips at widths 1024, 1280,
1600, 2000, 2500 and qualities 75, 85, 92 (195 distinct files), plus its 5 PNGs. They are made
once into bench/out/sync-images. Needs libvips-tools and curl.
"""
import argparse
import glob
import hashlib
import http.server
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def make_images(photos, out):
    os.makedirs(out, exist_ok=True)
    made = []
    for path in sorted(glob.glob(os.path.join(photos, "*"))):
        stem, ext = os.path.splitext(os.path.basename(path))
        if ext.lower() == ".png":
            target = os.path.join(out, stem + ".png")
            if not os.path.exists(target):
                shutil.copy(path, target)
            made.append(target)
            continue
        for width in (1024, 1280, 1600, 2000, 2500):
            for quality in (75, 85, 92):
                target = os.path.join(out, f"{stem}-{width}-q{quality}.jpg")
                if not os.path.exists(target):
                    subprocess.run(["vipsthumbnail", path, "-s", f"{width}x", "-o", f"{target}[Q={quality},strip]"], check=True)
                made.append(target)
    return made


class Origin(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(directory, latency):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        requests = 0
        body_bytes = 0
        lock = threading.Lock()

        def log_message(self, *args):
            pass

        def do_GET(self):
            time.sleep(latency)
            with Handler.lock:
                Handler.requests += 1
            path = os.path.join(directory, os.path.basename(self.path.split("?")[0]))
            if not os.path.isfile(path):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with open(path, "rb") as f:
                body = f.read()
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "image/png" if path.endswith(".png") else "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", "Wed, 01 Jan 2025 00:00:00 GMT")
            self.send_header("Cache-Control", "max-age=3600")
            self.end_headers()
            self.wfile.write(body)
            with Handler.lock:
                Handler.body_bytes += len(body)

    server = Origin(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Handler


def timed(cmd, cwd=None):
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%M"] + cmd, cwd=cwd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"warning: {' '.join(cmd)[:100]} exited {proc.returncode}: {proc.stderr.decode()[-400:]}", file=sys.stderr)
        fields = report.read().split()
    return elapsed, (float(fields[-1]) / 1024 if fields else float("nan"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", default=os.path.join(ROOT, "..", "shared", "corpus", "photos"))
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--keep", metavar="DIR", help="keep the 3-variant cache in DIR (for scripts/dashboard_check --cache DIR)")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: run `swift build -c release` first")

    images = make_images(args.photos, os.path.join(HERE, "out", "sync-images"))
    total_bytes = sum(os.path.getsize(p) for p in images)
    server, handler = serve(os.path.dirname(images[0]), args.latency)
    port = server.server_address[1]
    urls = [f"http://127.0.0.1:{port}/{os.path.basename(p)}" for p in images]
    work = tempfile.mkdtemp(prefix="imgcache-sync-bench-")
    seeds = os.path.join(work, "seeds")
    os.makedirs(seeds)
    with open(os.path.join(seeds, "bench.md"), "w") as f:
        f.write("---\ntitle: bench\nimages:\n" + "".join(f"  - url: \"{u}\"\n" for u in urls) + "---\n")
    thumb_only = os.path.join(work, "thumb-only.yml")
    with open(thumb_only, "w") as f:
        f.write("variants:\n  thumb: {size: 320x320, fit: inside}\n")
    rows = []

    def sync(name, cache, extra=()):
        handler.requests = 0
        handler.body_bytes = 0
        seconds, rss = timed([args.binary, "sync", seeds, "--cache", cache, "--allow-private", "--quiet"] + list(extra))
        rows.append((name, seconds, rss, handler.requests, handler.body_bytes))
        return seconds

    cold = sync("imgcache sync, 3 variants (cold)", os.path.join(work, "cache3"))
    warm = sync("imgcache sync, 3 variants (second, unchanged)", os.path.join(work, "cache3"))
    cold1 = sync("imgcache sync, thumb only (cold)", os.path.join(work, "cache1"), ["--config", thumb_only])

    # The scripted pipeline: one curl for all downloads, then one vipsthumbnail per variant.
    downloads = os.path.join(work, "downloads")
    os.makedirs(downloads)
    handler.requests = 0
    handler.body_bytes = 0
    curl_cmd = ["curl", "--silent", "--parallel", "--parallel-max", "16"]
    for url in urls:
        curl_cmd += ["-o", os.path.join(downloads, os.path.basename(url)), url]
    download_s, download_rss = timed(curl_cmd)
    rows.append(("curl --parallel --parallel-max 16", download_s, download_rss, handler.requests, handler.body_bytes))
    files = sorted(glob.glob(os.path.join(downloads, "*")))
    variants = [("thumb", ["-s", "320"]), ("card", ["-s", "640x360", "--smartcrop", "centre"]), ("large", ["-s", "1280"])]
    # The same files as imgcache's default formats: each variant as JPEG and as WebP.
    vips_s = {}
    for name, flags in variants:
        vips_s[name] = 0.0
        for suffix in ("jpg", "webp"):
            out = os.path.join(work, f"vips-{name}-{suffix}")
            os.makedirs(out)
            seconds, rss = timed(["vipsthumbnail"] + flags + ["-o", os.path.join(out, f"%s.{suffix}[Q=80,strip]")] + files)
            vips_s[name] += seconds
            rows.append((f"vipsthumbnail {' '.join(flags)} -> {suffix}", seconds, rss, 0, 0))
    pipeline3 = download_s + sum(vips_s.values())
    pipeline1 = download_s + vips_s["thumb"]
    server.shutdown()

    print(f"{len(images)} images ({total_bytes / 1e6:.1f} MB) behind a local origin adding {args.latency * 1000:.0f} ms "
          f"per request, {os.cpu_count()} cores")
    print(f"{'run':48} {'time s':>7} {'RSS MB':>7} {'requests':>8} {'body MB':>8}")
    for name, seconds, rss, requests, body in rows:
        print(f"{name:48} {seconds:7.2f} {rss:7.1f} {requests:8d} {body / 1e6:8.1f}")
    print(f"pipeline, 3 variants x (JPEG + WebP) (curl + 6 x vipsthumbnail): {pipeline3:.2f} s; thumb only: {pipeline1:.2f} s")
    print(f"imgcache cold 3 variants / pipeline: {cold / pipeline3:.2f} (target <= 0.50)")
    print(f"imgcache cold thumb only / pipeline: {cold1 / pipeline1:.2f} (target <= 0.60)")
    print(f"imgcache second sync / cold: {warm / cold:.3f} (target <= 0.02), body bytes {rows[1][4]}")
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        shutil.copytree(os.path.join(work, "cache3"), args.keep)
        print(f"the 3-variant cache is kept in {args.keep}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
