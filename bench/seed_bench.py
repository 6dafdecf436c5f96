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


def start_origin():
    body = open(LOGO, "rb").read()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            found = self.path.startswith("/logo.jpg")
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

    server = Origin(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


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
    args = parser.parse_args()
    binaries = [("imgcache", args.binary)] + ([("baseline", args.baseline)] if args.baseline else [])
    cases = args.cases.split(",")
    origin = start_origin()
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
    origin.shutdown()


if __name__ == "__main__":
    sys.exit(main())
