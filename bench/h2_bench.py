#!/usr/bin/env python3
"""HTTP/2 load and memory benchmark: h2load (cleartext HTTP/2, prior knowledge) against `imgcache
serve` and against nginx serving the same bytes, for the ~2.4 MB original and the thumbnail, at
`-c10 -m100` (1,000 streams at once). For each server and case: requests/s, peak RSS and peak
descriptors during the load (sampled every 50 ms from /proc), RSS 30 s after the load ended, and
the idle RSS before it. `--before PATH` adds a second imgcache binary (the code before a change)
to the same run. Also a hostile case: 20 connections x 100 streams that never open their window
(h2load -w 0), RSS and descriptors while they hang.

    python3 bench/h2_bench.py [--binary PATH] [--before PATH] [--photo FILE] [--requests 3000]

Needs h2load (apt-get install -y nghttp2-client) and nginx (nginx-light). Targets (issue 22): peak
RSS <= 300 MB, RSS back to <= 1.2x idle within 30 s of the end, req/s not below the code before.
"""
import argparse
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
sys.path.insert(0, HERE)
from serve_bench import free_port, make_cache, nginx_conf, wait_for  # noqa: E402


def proc_stats(pids):
    """RSS in MB and open descriptors, summed over `pids` (nginx: master and workers)."""
    rss, fds = 0, 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                rss += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024
            fds += len(os.listdir(f"/proc/{pid}/fd"))
        except (OSError, AttributeError):
            pass
    return rss, fds


def nginx_pids(master):
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [master] + [int(c) for c in children]


class Sampler(threading.Thread):
    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak_rss, self.peak_fds, self.running = pids, 0, 0, True

    def run(self):
        while self.running:
            rss, fds = proc_stats(self.pids())
            self.peak_rss, self.peak_fds = max(self.peak_rss, rss), max(self.peak_fds, fds)
            time.sleep(0.05)


def h2load(url, args, extra=()):
    cmd = ["h2load", "-c10", "-m100", "-n", str(args.requests), *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    rps = float(re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out).group(1))
    ok = int(re.search(r"status codes: (\d+) 2xx", out).group(1))
    return rps, ok


def measure(name, url, pids, args):
    idle, _ = proc_stats(pids())
    sampler = Sampler(pids)
    sampler.start()
    rps, ok = h2load(url, args)
    sampler.running = False
    sampler.join()
    end = time.time()
    after = proc_stats(pids())[0]
    while time.time() - end < 30 and after > 1.2 * idle:
        time.sleep(1)
        after = proc_stats(pids())[0]
    return dict(name=name, rps=rps, ok=ok, idle=idle, peak=sampler.peak_rss, fds=sampler.peak_fds,
                after=after, back=time.time() - end)


def stalled(url, pids):
    client = subprocess.Popen(["h2load", "-c20", "-m100", "-n2000", "-w", "0", "-T", "30", url],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(5)
    rss, fds = proc_stats(pids())
    client.kill()
    client.wait()
    return rss, fds


def start_imgcache(binary, cache):
    port = free_port()
    proc = subprocess.Popen([binary, "serve", "--port", str(port), "--cache", cache, "--log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port, "/healthz")
    return proc, port


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    parser.add_argument("--before", help="an imgcache binary built from the code before the change")
    parser.add_argument("--photo", default=os.path.join(ROOT, "..", "shared", "corpus", "photos",
                                                        "seondol-son-skcD9ONunJw-unsplash.jpg"))
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="imgcache-h2-bench-")
    os.chmod(work, 0o755)
    cache, files, image = make_cache(args, work)
    thumb = image["variants"]["thumb"]
    shutil.copyfile(args.photo, os.path.join(files, "original.jpg"))  # nginx serves the same bytes
    servers = [("imgcache", args.binary)] + ([("imgcache before", args.before)] if args.before else [])
    rows, hostile = [], []
    for label, binary in servers:
        proc, port = start_imgcache(binary, cache)
        base = f"http://127.0.0.1:{port}"
        # The server's own URLs, from its manifest.
        manifest = subprocess.run(["curl", "-s", base + "/v1/manifest"], capture_output=True, text=True).stdout
        thumb_path = re.search(r'"url"\s*:\s*"(/t/[0-9a-f]{64}/thumb\.jpg)"', manifest).group(1)
        original = f"/o/{thumb_path.split('/')[2]}.jpg"
        pids = lambda: [proc.pid]  # noqa: E731
        try:
            rows.append(measure(f"{label}: original", base + original, pids, args))
            rows.append(measure(f"{label}: thumb", base + thumb_path, pids, args))
            hostile.append((label, *stalled(base + original, pids)))
        finally:
            proc.terminate()
            proc.wait()
    nginx_port = free_port()
    nginx = subprocess.Popen(["nginx", "-c", nginx_conf(work, nginx_port, files, http2=True, connections=4096), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(nginx_port)
        time.sleep(0.5)
        pids = lambda: nginx_pids(nginx.pid)  # noqa: E731
        base = f"http://127.0.0.1:{nginx_port}/img/"
        rows.append(measure("nginx: original", base + "original.jpg", pids, args))
        rows.append(measure("nginx: thumb", base + os.path.basename(thumb["url"]), pids, args))
        hostile.append(("nginx", *stalled(base + "original.jpg", pids)))
    finally:
        nginx.terminate()
        nginx.wait()

    print(f"h2load -c10 -m100 -n{args.requests} (cleartext HTTP/2), one run, {os.cpu_count()} cores shared by client and server")
    print(f"| case | req/s | 2xx | idle RSS MB | peak RSS MB | peak fds | RSS after MB (s to <=1.2x idle) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['name']} | {r['rps']:.0f} | {r['ok']} | {r['idle']:.0f} | {r['peak']:.0f} | {r['fds']} | "
              f"{r['after']:.0f} ({r['back']:.0f}) |")
    print()
    print("20 connections x 100 streams with a zero window (h2load -w 0), after 5 s:")
    print("| server | RSS MB | descriptors |")
    print("|---|---:|---:|")
    for label, rss, fds in hostile:
        print(f"| {label} | {rss:.0f} | {fds} |")


if __name__ == "__main__":
    main()
