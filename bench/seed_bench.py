#!/usr/bin/env python3
"""Seed benchmark: the work `imgcache sync` does with its seed documents, as whole processes,
on inputs made to grow: one URL shared by tens of thousands of entries (a logo in every
article), a front matter of aliases, and 100,000 distinct entries. Each case runs once per
binary; with --baseline a second binary (say, an older build) runs the same inputs beside it.

    python3 bench/seed_bench.py [--binary .build/release/imgcache] [--baseline PATH]
                                [--cases shared,alias,distinct]

- shared N: N/100 seed files of 100 entries each, every entry the same URL (served by a local
  origin), isCached false: sync --write-back fetches it once and rewrites every file.
  N = 10,000, 20,000 and 40,000 show whether the work grows linearly.
- alias: one 740 KB front matter `related: [*a, *a, ...]` (about 185,000 aliases of one article).
- distinct: 100,000 distinct URLs in 1,000 files, every one failing at once (a closed port on
  127.0.0.1): what a sync costs per URL when there is nothing to download.
- incremental N: N seed files, each naming a shared logo and three images of its own (for
  N above 10,000 the images are drawn from a pool of 30,000, so every run caches the same
  30,001 distinct images); one 64-pixel JPEG variant. After a first sync (timed, as setup):
  a second sync with nothing changed, then one with 1 % of the files edited (a new title).
- watch: `sync --watch --write-back` on the 10,000-seed cache; 200 new seeds, one at a time,
  each naming one new image: the time from the write to `isCached: true` in the file, p50/p99.
Prints time and peak RSS per run, and the ratio to the baseline where there is one.
"""
import argparse
import http.server
import os
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
LOGO = os.path.join(ROOT, "Tests/Fixtures/corpus/jpeg/orientation/Landscape_1.jpg")


class Origin(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def start_origin(answer):
    """A local origin; `answer(path)` gives (status, extra headers, body)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            status, headers, body = answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "image/jpeg")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = Origin(("127.0.0.1", 0), Handler)
    server.request_queue_size = 1024
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_logo_origin():
    body = open(LOGO, "rb").read()
    return start_origin(lambda path: (200, {}, body) if path.startswith("/logo.jpg") else (404, {}, b""))


def free_port():
    """A loopback port nothing listens on (for a server to take, or to be refused on)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_seeds(folder, files):
    os.makedirs(folder, exist_ok=True)
    for name, text in files:
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)


def shared_seeds(folder, references, url):
    per_file = 100
    entry = f"  - url: {url}\n    width: 64\n    height: 48\n    isCached: false\n"
    files = [(f"post-{n:05}.md", "---\ntitle: post\nimages:\n" + entry * per_file + "---\nBody\n")
             for n in range(references // per_file)]
    write_seeds(folder, files)


def alias_seeds(folder, url):
    aliases = 185_000
    text = (f"---\narticle: &a\n  title: related\n  images:\n    - url: {url}\n      isCached: false\n"
            + "related: [" + ", ".join(["*a"] * aliases) + "]\n---\n")
    write_seeds(folder, [("aliases.md", text)])
    return len(text)


def distinct_seeds(folder, count, port):
    per_file = 100
    files = []
    for n in range(count // per_file):
        entries = "".join(f"  - url: http://127.0.0.1:{port}/{n}/{k}.jpg\n    isCached: false\n" for k in range(per_file))
        files.append((f"post-{n:05}.md", "---\nimages:\n" + entries + "---\n"))
    write_seeds(folder, files)


def run(binary, seeds, cache, write_back):
    args = [binary, "sync", seeds, "--cache", cache, "--allow-private", "--quiet", "--json"]
    if write_back:
        args.append("--write-back")
    # stderr to a file: a pipe read only at the end would fill (100,000 error lines) and stall the run.
    with tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.monotonic() - started
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), stderr


def start_image_origin():
    """Distinct bytes per path: a small JPEG with the path after its end marker (decoders stop there)."""
    small = os.path.join(tempfile.mkdtemp(prefix="imgcache-seed-bench-img-"), "small.jpg")
    subprocess.run(["convert", LOGO, "-resize", "96x72", "-quality", "80", small], check=True)
    body = open(small, "rb").read()
    return start_origin(lambda path: (200, {"Cache-Control": "max-age=86400"}, body + path.encode()))


POOL = 30_000


def seed_text(base, n, title="post"):
    own = [(n * 3 + k) % POOL for k in range(3)]
    lines = [f"---\ntitle: {title} {n}\nimages:\n", f"  - url: {base}/logo.jpg\n    isCached: false\n"]
    lines += [f"  - url: {base}/img/{k}.jpg\n    width: 96\n    height: 72\n    isCached: false\n" for k in own]
    return "".join(lines) + "---\nBody of the article.\n"


def incremental_seeds(folder, count, base):
    os.makedirs(folder, exist_ok=True)
    for n in range(count):
        sub = os.path.join(folder, f"{n // 1000:03}")
        os.makedirs(sub, exist_ok=True)
        with open(os.path.join(sub, f"post-{n:06}.md"), "w") as f:
            f.write(seed_text(base, n))


def edit_seeds(folder, count, base, share=0.01):
    step = int(1 / share)
    for n in range(0, count, step):
        with open(os.path.join(folder, f"{n // 1000:03}", f"post-{n:06}.md"), "w") as f:
            f.write(seed_text(base, n, title="edited"))
    return count // step


BENCH_CONFIG = "variants:\n  thumb: {size: 64x64, fit: inside, formats: [jpeg]}\nallowPrivate: true\n"


def sync_process(binary, seeds, cache, config, extra=()):
    args = [binary, "sync", seeds, "--cache", cache, "--config", config, "--quiet", "--json", *extra]
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        started = time.monotonic()
        process = subprocess.Popen(args, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.monotonic() - started
        out.seek(0)
        report = out.read().decode(errors="replace")
    return elapsed, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status), report


def summary(report):
    import json
    try:
        r = json.loads(report)
    except ValueError:
        return "no report"
    return (f"{r['seedsRead']:,} seeds, {r['seedsChanged']:,} read, {r['images']:,} images, "
            f"{r['fetched']:,} fetched, {r['cached']:,} cached") if "seedsChanged" in r else \
        f"{r['seedsRead']:,} seeds, {r['images']:,} images, {r['fetched']:,} fetched, {r['cached']:,} cached"


def incremental_case(count, binaries, base, keep=None):
    """First, unchanged and 1 %-edited syncs of `count` seeds, per binary, side by side."""
    rows = {}
    for name, binary in binaries:
        work = tempfile.mkdtemp(prefix="imgcache-seed-bench-")
        seeds, cache, config = (os.path.join(work, x) for x in ("seeds", "cache", "imgcache.yml"))
        with open(config, "w") as f:
            f.write(BENCH_CONFIG)
        incremental_seeds(seeds, count, base)
        # Seeds a site keeps were written before the sync; a file written within two seconds of
        # being read is hashed again on the next sync (a write in the same clock tick is not missed).
        time.sleep(2.5)
        first = sync_process(binary, seeds, cache, config)
        second = sync_process(binary, seeds, cache, config)
        edited = edit_seeds(seeds, count, base)
        third = sync_process(binary, seeds, cache, config)
        rows[name] = (first, second, third, edited)
        if keep is not None and name == "imgcache":
            keep.append((work, seeds, cache, config))
        else:
            shutil.rmtree(work, ignore_errors=True)
    base_row = rows.get("baseline")
    for label, i in (("first sync", 0), ("unchanged", 1), ("1 % edited", 2)):
        for name, _ in binaries:
            elapsed, rss, code, report = rows[name][i]
            ratio = f"{elapsed / base_row[i][0]:.2f}x" if base_row else "-"
            print(f"| {count:,} seeds: {label} | {name} | {elapsed:.2f} | {rss:.0f} | {code} | {ratio} | {summary(report)} | |",
                  flush=True)


def watch_case(setup, base, new_seeds=200):
    """Latency from writing a new seed to isCached: true in it, under sync --watch --write-back."""
    work, seeds, cache, config = setup
    binary = setup_binary[0]
    log = open(os.path.join(work, "watch.log"), "w+")
    process = subprocess.Popen([binary, "sync", seeds, "--cache", cache, "--config", config, "--watch", "--write-back"],
                               stdout=subprocess.DEVNULL, stderr=log)
    # The first syncs settle: the first writes isCached back into every seed, the next sees those writes.
    deadline, quiet_since, size = time.monotonic() + 600, time.monotonic(), 0
    while time.monotonic() < deadline:
        log.seek(0)
        text = log.read()
        if len(text) != size:
            size, quiet_since = len(text), time.monotonic()
        elif " seed files (" in text and time.monotonic() - quiet_since > 3:  # a summary, not "watching"
            break
        time.sleep(0.05)
    latencies = []
    folder = os.path.join(seeds, "new")
    os.makedirs(folder, exist_ok=True)
    for n in range(new_seeds):
        path = os.path.join(folder, f"new-{n:04}.md")
        text = f"---\ntitle: new {n}\nimages:\n  - url: {base}/new/{n}.jpg\n    isCached: false\n---\nNew.\n"
        started = time.monotonic()
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)
        while time.monotonic() - started < 30:
            with open(path) as f:
                if "isCached: true" in f.read():
                    break
            time.sleep(0.005)
        latencies.append(time.monotonic() - started)
    process.terminate()
    code = process.wait()
    usage_rss = "-"
    slowest = sorted(range(len(latencies)), key=lambda i: -latencies[i])[:3]
    print("slowest: " + ", ".join(f"#{i + 1} {latencies[i]:.2f} s" for i in slowest), file=sys.stderr, flush=True)
    latencies.sort()
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    print(f"| watch: {new_seeds} new seeds in a 10,000-seed folder | imgcache | p50 {p50:.2f} / p99 {p99:.2f} / max {latencies[-1]:.2f} | "
          f"{usage_rss} | {code} | - | write → isCached: true (includes the fetch) | |", flush=True)


setup_binary = []


def count_true(folder):
    total = 0
    for name in os.listdir(folder):
        with open(os.path.join(folder, name)) as f:
            total += f.read().count("isCached: true")
    return total


def case(label, binaries, make, write_back=False, check=None):
    rows = []
    for name, binary in binaries:
        work = tempfile.mkdtemp(prefix="imgcache-seed-bench-")
        seeds = os.path.join(work, "seeds")
        make(seeds)
        elapsed, rss, code, stderr = run(binary, seeds, os.path.join(work, "cache"), write_back)
        note = check(seeds) if check else ""
        last = stderr.strip().splitlines()[-1][:100] if stderr.strip() else ""
        rows.append((name, elapsed, rss, code, note, last))
        shutil.rmtree(work, ignore_errors=True)
    base = rows[-1][1] if len(rows) > 1 else None
    for name, elapsed, rss, code, note, last in rows:
        ratio = f"{elapsed / base:.2f}x" if base else "-"
        print(f"| {label} | {name} | {elapsed:.2f} | {rss:.0f} | {code} | {ratio} | {note} | {last} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/imgcache"))
    parser.add_argument("--baseline", help="another imgcache binary to run beside it")
    parser.add_argument("--cases", default="shared,alias,distinct")
    parser.add_argument("--sizes", default="10000,20000,40000", help="reference counts for the shared case")
    parser.add_argument("--seed-counts", default="10000,100000", help="seed files for the incremental case")
    args = parser.parse_args()
    binaries = [("imgcache", args.binary)] + ([("baseline", args.baseline)] if args.baseline else [])
    cases = args.cases.split(",")
    origin = start_logo_origin()
    logo = f"http://127.0.0.1:{origin.server_address[1]}/logo.jpg"
    print("| case | binary | time s | peak RSS MB | exit | vs baseline | result | last stderr line |")
    print("|---|---|---:|---:|---:|---:|---|---|")
    if "shared" in cases:
        for n in [int(x) for x in args.sizes.split(",")]:
            case(f"shared {n:,}", binaries, lambda s, n=n: shared_seeds(s, n, logo), write_back=True,
                 check=lambda s: f"{count_true(s):,} isCached: true")
    if "alias" in cases:
        case("alias 740 KB", binaries, lambda s: alias_seeds(s, logo), write_back=True)
    if "distinct" in cases:
        port = free_port()
        case("distinct 100,000 failing", binaries, lambda s: distinct_seeds(s, 100_000, port))
    if "incremental" in cases or "watch" in cases:
        images = start_image_origin()
        base = f"http://127.0.0.1:{images.server_address[1]}"
        setup_binary.append(args.binary)
        kept = []
        for count in [int(x) for x in args.seed_counts.split(",")]:
            if "incremental" in cases:
                incremental_case(count, binaries, base, keep=kept if count == 10_000 else None)
        if "watch" in cases:
            if not kept:
                incremental_case(10_000, binaries[:1], base, keep=kept)
            watch_case(kept[0], base)
        for work, *_ in kept:
            shutil.rmtree(work, ignore_errors=True)
        images.shutdown()
    origin.shutdown()


if __name__ == "__main__":
    sys.exit(main())
