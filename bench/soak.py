#!/usr/bin/env python3
"""Soak: `imgcache serve` for an hour under a mixed load, with `--sync-every` and `--prune-every`
running on a seed folder that keeps changing. Every 10 s it samples the server's RSS, open
descriptors and threads and the load's p50/p99 latency and error count; it writes a CSV and a
plot (PNG) and checks the targets.

    python3 bench/soak.py [--binary .build/release/imgcache] [--minutes 60] [--seeds 2000]
                          [--out bench/out/soak] [--compare OTHER/soak.csv]
    python3 bench/soak.py --report bench/out/soak/soak.csv     (the targets of a finished run again)

The load (wrk, 2 threads, 16 connections, a Lua script choosing each request): thumbnails
(/t/), originals (/o/), /v1/image redirects, manifest pages (limit=200 at a random cursor),
304 revalidations (If-None-Match of a thumbnail's ETag) and 404s (a digest not in the cache),
in the proportions 45/10/15/10/15/5. The seed folder (N seeds of three images each and a shared
logo, served by a local origin) changes every 30 s: ten new seeds, ten edited (a new title),
five removed. The server syncs it every 60 s and prunes every 120 s (--unreferenced, and
--max-size at 95 % of the cache's size at the start, so each prune removes something).

Targets: no 5xx and no socket errors; RSS at the end <= 1.1 x RSS after the first 5 minutes;
descriptors flat (within 10); p99 over the last 10 minutes <= 1.2 x the first 10 minutes'.
"At the end" and "after 5 minutes" are the medians of the last 5 minutes' samples and of
minutes 5-10 (a single sample may fall inside a sync or prune); the single samples are printed too.
"""
import argparse
import csv
import http.client
import json
import os
import random
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
import scale  # noqa: E402  (its origin, seeds and child runner)
import seed_bench  # noqa: E402

LUA = r"""
local paths = {}
local kinds = {}
local etags = {}
local n = 0
function init(args)
  for line in io.lines(args[1]) do
    local kind, path, etag = line:match("^(%S+) (%S+) ?(%S*)$")
    n = n + 1
    kinds[n] = kind
    paths[n] = path
    etags[n] = etag
  end
  errors = 0
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end
function request()
  local i = math.random(n)
  if kinds[i] == "revalidate" then
    return wrk.format("GET", paths[i], { ["If-None-Match"] = etags[i] })
  end
  return wrk.format("GET", paths[i])
end
function response(status, headers, body)
  if status >= 500 then errors = errors + 1 end
end
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("errors") end
  io.write(string.format("SOAK %d %d %d %d %.3f %.3f\n", summary.requests, total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def proc_status(pid):
    figures = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "Threads"):
                figures[key] = int(value.split()[0])
    figures["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return figures


def request_mix(port, cache, path):
    """The wrk script's request list: weighted by repetition."""
    db = sqlite3.connect(os.path.join(cache, "index.sqlite"))
    rows = db.execute("SELECT t.digest, t.key, s.url FROM thumbnails t JOIN sources s ON s.digest = t.digest "
                      "WHERE t.variant = 'thumb' LIMIT 2000").fetchall()
    urls = [r[0] for r in db.execute("SELECT url FROM sources ORDER BY url LIMIT 5000 OFFSET 0")]
    db.close()
    lines = []
    for digest, key, url in rows[:400]:
        lines += [f"thumb /t/{digest}/thumb.jpg"] * 9
        lines += [f"original /o/{digest}.jpg"] * 2
        lines += [f"image /v1/image?url={url.replace(':', '%3A').replace('/', '%2F')}&variant=thumb"] * 3
        lines += [f"revalidate /t/{digest}/thumb.jpg \"{key}\""] * 3
        lines.append(f"missing /t/{'f' * 64}/thumb.jpg")
    for url in random.Random(3).sample(urls, min(200, len(urls))):
        after = url.replace(":", "%3A").replace("/", "%2F")
        lines += [f"manifest /v1/manifest?limit=200&after={after}"] * 10
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def change_seeds(seeds, base, start, stop, log, every=30):
    """Every 30 s: ten new seeds, ten edited, five removed."""
    next_new = start
    rng = random.Random(11)
    while not stop.wait(every):
        for _ in range(10):
            path = os.path.join(seeds, scale.seed_path(next_new))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(scale.seed_text(next_new, base))
            next_new += 1
        existing = [os.path.join(d, f) for d, _, files in os.walk(seeds) for f in files]
        for path in rng.sample(existing, min(10, len(existing))):
            with open(path) as f:
                text = f.read()
            with open(path, "w") as f:
                f.write(text.replace("title: Article", "title: Edited article", 1))
        for path in rng.sample(existing, min(5, len(existing))):
            os.unlink(path)
        log.append(next_new)


def allocated_mb(port):
    """jemalloc's allocated bytes from /metrics (the heap in use; flat while RSS rises is fragmentation)."""
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
        connection.close()
    except OSError:
        return ""
    prefix = 'imgcache_allocator_bytes{kind="allocated"} '
    line = next((l for l in text.splitlines() if l.startswith(prefix)), None)
    return f"{float(line[len(prefix):]) / 1048576:.1f}" if line else ""


def draw(rows, path, minutes, compare=None, compare_label=""):
    """Four panels (RSS, descriptors, p99, errors) against minutes, with PIL. The RSS panel also
    draws the heap in use (jemalloc's allocated bytes, blue) and, with `compare`, another run's
    RSS (grey)."""
    from PIL import Image, ImageDraw
    width, height, pad = 1200, 900, 60
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    panels = [("RSS MB", "rss_mb"), ("open descriptors", "fds"), ("p99 latency ms", "p99_ms"), ("5xx + socket errors", "errors")]
    panel_height = (height - pad) // len(panels)

    def series(source, key):
        return [(float(r["minute"]), float(r[key])) for r in source if r.get(key) not in (None, "")]

    for index, (title, key) in enumerate(panels):
        top = pad // 2 + index * panel_height
        box = (pad, top + 20, width - pad // 2, top + panel_height - 20)
        lines = [(series(rows, key), "#c0392b")]
        if key == "rss_mb":
            lines.append((series(rows, "heap_mb"), "#2471a3"))
            if compare:
                lines.insert(0, (series(compare, key), "#aaaaaa"))
        high = max([v for points, _ in lines for _, v in points] + [1]) * 1.1
        draw.rectangle(box, outline="#888")
        own = [v for _, v in series(rows, key)]
        label = f"{title} (max {max(own + [0]):.1f}, last {own[-1] if own else 0:.1f})"
        if key == "rss_mb":
            label += "   red: RSS   blue: heap in use (jemalloc allocated)" + (f"   grey: RSS, {compare_label}" if compare else "")
        draw.text((box[0], top + 4), label, fill="black")
        for fraction in (0, 0.5, 1):
            y = box[3] - (box[3] - box[1]) * fraction / 1.1
            draw.text((4, y - 6), f"{high / 1.1 * fraction:.0f}", fill="#555")
            draw.line([(box[0] - 4, y), (box[0], y)], fill="#888")
        for points, colour in lines:
            xy = [(box[0] + (box[2] - box[0]) * m / max(minutes, 1), box[3] - (box[3] - box[1]) * v / high)
                  for m, v in points if m <= minutes]
            if len(xy) > 1:
                draw.line(xy, fill=colour, width=2)
        for m in range(0, int(minutes) + 1, max(1, int(minutes) // 6)):
            x = box[0] + (box[2] - box[0]) * m / max(minutes, 1)
            draw.text((x, box[3] + 2), f"{m} min", fill="#555")
    image.save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/imgcache"))
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--seeds", type=int, default=2000)
    parser.add_argument("--out", default=os.path.join(HERE, "out", "soak"))
    parser.add_argument("--no-load", action="store_true", help="no requests: the schedules alone (to tell a leak in "
                        "sync or prune from one in the routes)")
    parser.add_argument("--sync-every", type=int, default=60, help="seconds (default 60)")
    parser.add_argument("--prune-every", type=int, default=120, help="seconds (default 120)")
    parser.add_argument("--no-prune", action="store_true", help="no scheduled prune (to tell a leak in sync from one in prune)")
    parser.add_argument("--change-every", type=int, default=30, help="seconds between seed folder changes (default 30)")
    parser.add_argument("--preload", help="a malloc to preload into serve (LD_PRELOAD), e.g. "
                        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2, to compare against glibc's")
    parser.add_argument("--compare", help="another run's soak.csv, whose RSS the plot draws in grey (e.g. a run on glibc's malloc)")
    parser.add_argument("--compare-label", default="the other run", help="what the grey line is, for the plot")
    parser.add_argument("--report", metavar="CSV", help="only read a finished run's soak.csv and print its targets again")
    args = parser.parse_args()
    if args.report:
        rows = list(csv.DictReader(open(args.report)))
        report(rows, round(float(rows[-1]["minute"])))
        return
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    os.makedirs(args.out, exist_ok=True)
    origin = scale.start_origin()
    base = f"http://127.0.0.1:{origin.server_address[1]}"
    work = tempfile.mkdtemp(prefix="imgcache-soak-")
    seeds, cache, config = (os.path.join(work, x) for x in ("seeds", "cache", "imgcache.yml"))
    with open(config, "w") as f:
        f.write(scale.CONFIG)
    scale.write_seeds(seeds, args.seeds, base)
    wall, rss, status, err = scale.run_child([args.binary, "sync", seeds, "--cache", cache, "--config", config, "--quiet"])
    if status != 0:
        sys.exit(f"first sync failed: {err[-2000:]}")
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(os.path.join(cache, "objects")) for f in files)
    size += sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(os.path.join(cache, "thumbs")) for f in files)
    port = seed_bench.free_port()
    server = subprocess.Popen([args.binary, "serve", "--cache", cache, "--config", config, "--port", str(port),
                               "--log-level", "warning", "--sync-every", f"{args.sync_every}s", "--seeds", seeds,
                               ] + ([] if args.no_prune else [
                               "--prune-every", f"{args.prune_every}s", "--unreferenced", seeds, "--max-size", str(int(size * 0.95)),
                               "--grace", "0s"]), env=dict(os.environ, **({"LD_PRELOAD": args.preload} if args.preload else {})),
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(args.out, "serve.log"), "w"))
    scale.wait_healthy(port)
    script, mix = os.path.join(work, "mix.lua"), os.path.join(work, "mix.txt")
    with open(script, "w") as f:
        f.write(LUA)
    request_mix(port, cache, mix)
    stop, changes = threading.Event(), []
    changer = threading.Thread(target=change_seeds, args=(seeds, base, args.seeds, stop, changes, args.change_every), daemon=True)
    changer.start()
    rows, started = [], time.time()
    csv_path = os.path.join(args.out, "soak.csv")
    try:
        while time.time() - started < args.minutes * 60:
            if server.poll() is not None:
                sys.exit(f"serve exited with {server.returncode}")
            if args.no_load:
                time.sleep(10)
                out = "SOAK 0 0 0 0 0 0"
            else:
                out = subprocess.run(["wrk", "-t2", "-c16", "-d10s", "-s", script, f"http://127.0.0.1:{port}", "--", mix],
                                     stdout=subprocess.PIPE, text=True).stdout
            line = next((l for l in out.splitlines() if l.startswith("SOAK ")), None)
            if line is None:
                sys.exit(f"wrk said: {out}")
            requests, five, socket_errors, non_ok, p50, p99 = line.split()[1:]
            status = proc_status(server.pid)
            rows.append({"minute": f"{(time.time() - started) / 60:.2f}", "rss_mb": f"{status['VmRSS'] / 1024:.1f}",
                         "fds": status["fds"], "threads": status["Threads"], "requests": requests,
                         "p50_ms": p50, "p99_ms": p99, "errors": int(five) + int(socket_errors), "non_2xx_3xx": non_ok,
                         "heap_mb": allocated_mb(port)})
            with open(csv_path, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
    finally:
        stop.set()
        server.terminate()
        server.wait()
    compare = list(csv.DictReader(open(args.compare))) if args.compare else None
    draw(rows, os.path.join(args.out, "soak.png"), args.minutes, compare, args.compare_label)
    report(rows, args.minutes)
    shutil.rmtree(work, ignore_errors=True)


def report(rows, minutes):
    """The targets. RSS and descriptors are read as the median of minutes 5-10 against the median
    of the last 5: a single sample that falls inside a scheduled sync or prune holds that job's
    transient memory and descriptors (the last sample of two hours did: RSS +7 MB, 86 descriptors
    against a median of 46). The single samples are printed beside them."""
    def at(minute):
        return min(rows, key=lambda r: abs(float(r["minute"]) - minute))

    def median(key, first, last):
        window = sorted(float(r[key]) for r in rows if first <= float(r["minute"]) < last)
        return window[len(window) // 2] if window else 0.0

    errors = sum(int(r["errors"]) for r in rows)
    requests = sum(int(r["requests"]) for r in rows)
    five, end = at(5), rows[-1]
    span = min(10, minutes / 3)
    first_p99, last_p99 = median("p99_ms", 0, span), median("p99_ms", minutes - span, minutes + 1)
    rss_start, rss_end = median("rss_mb", 5, 10), median("rss_mb", minutes - 5, minutes + 1)
    fds_start, fds_end = median("fds", 5, 10), median("fds", minutes - 5, minutes + 1)
    checks = [
        ("errors (5xx + socket)", f"{errors} of {requests:,} requests", errors == 0),
        ("RSS, last 5 min / minutes 5-10 (medians)", f"{rss_end:.1f} / {rss_start:.1f} MB = {rss_end / rss_start:.2f} "
         f"(single samples: {float(end['rss_mb']):.1f} at the end / {float(five['rss_mb']):.1f} at 5 min)",
         rss_end <= 1.1 * rss_start),
        ("descriptors, last 5 min vs minutes 5-10 (medians)", f"{fds_end:.0f} vs {fds_start:.0f} "
         f"(single samples: {end['fds']} at the end, {five['fds']} at 5 min)", fds_end <= fds_start + 10),
        (f"p99 last {span:g} min / first {span:g} min (median of 10 s windows)", f"{last_p99:.2f} / {first_p99:.2f} ms = "
         f"{last_p99 / first_p99 if first_p99 else 0:.2f}", last_p99 <= 1.2 * first_p99 if first_p99 else False),
    ]
    print("| target | measured | met |")
    print("|---|---|---|")
    for name, value, met in checks:
        print(f"| {name} | {value} | {'yes' if met else 'NO'} |")


if __name__ == "__main__":
    main()
