#!/usr/bin/env python3
"""Scale: what imgcache costs in time and memory as a site grows from 10,000 seed documents
to 250,000 (a million images). Whole processes of the release build, one run per figure.

    python3 bench/scale.py [--binary .build/release/imgcache] [--seeds 10000,100000,250000]
                           [--sync-up-to 25000] [--work DIR] [--keep] [--dashboard-only | --sync-only]

The corpus is aggregator-shaped: N seed files under posts/<year>/, each naming three images
of its own and one of five shared logos (about 4 images per seed, 3N + 5 distinct URLs), with
declared sizes and `isCached: false`. A local origin serves every URL as a distinct small
JPEG (one 64x48 picture with the URL's number in a JPEG comment: distinct bytes, distinct
originals). One variant: a 64-pixel JPEG.

For N up to --sync-up-to the cache is made by `imgcache sync` itself (timed: first sync and
a second one with nothing changed). Above it, syncing would take an hour of CPU per 250,000
seeds here, so the index rows are written directly (as a sync writes them: one original, one
thumbnail, the URL, its seed reference; thumbnail files hard-linked to one real thumbnail)
and the seed files are those rows' seeds. `--sync-only` syncs every N instead (333,334 seeds,
a million images: 27 minutes here) and times only the two syncs. Otherwise, on the same cache:

- `status --json`, `stats --json`, `export`, `verify` (synced caches only: a synthetic
  original's bytes are not its name's hash), `prune --max-size` (a tenth of the images):
  wall time and peak RSS (getrusage of the child).
- the dashboard: each list, filter and search page (17 of them) read three times, the best
  time printed with the first; the slowest page's best is a figure. Synthetic rows include
  failures (1 in 97), declared squares (1 in 53, size mismatches) and animated GIFs (1 in 31).
- `serve`: RSS idle, then while 8 wrk connections ask for a thumbnail and a client reads the
  whole manifest four times (peak RSS, VmHWM); the manifest's first byte and whole body time.

`--postgres` does all of that on a PostgreSQL index instead (a throwaway server, bench/pg_server.py):
each cache is made as above, in SQLite, then copied into PostgreSQL by `imgcache migrate` (timed;
the files stay in the cache folder), and every command and `serve` run with `index: postgres://…`.

Prints one table: each figure against N. Needs wrk and PIL (pip install pillow).
"""
import argparse
import hashlib
import http.client
import io
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
import seed_bench  # noqa: E402  (its origin and free ports)

CONFIG = "variants:\n  thumb: {size: 64x64, fit: inside, formats: [jpeg]}\nallowPrivate: true\nconcurrency: 32\nperHost: 32\n"
LOGOS = 5


def base_jpeg():
    from PIL import Image
    import random
    random.seed(7)
    image = Image.new("RGB", (64, 48))
    image.putdata([(random.randrange(256), random.randrange(256), random.randrange(256)) for _ in range(64 * 48)])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def jpeg_for(base, number):
    """`base` with a comment segment holding `number`: other bytes, the same picture."""
    payload = f"imgcache scale {number}".encode()
    return base[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + base[2:]


def start_origin():
    base = base_jpeg()

    def answer(path):
        name = path.rsplit("/", 1)[-1].split(".")[0]
        return (200, {"Cache-Control": "max-age=31536000"}, jpeg_for(base, path)) if name.isdigit() else (404, {}, b"")

    return seed_bench.start_origin(answer)


def seed_text(n, base):
    own = [f"{base}/i/{3 * n + k}.jpg" for k in range(3)]
    logo = f"{base}/logo/{n % LOGOS}.jpg"
    lines = ["---", f"title: Article {n}", "images:"]
    for url in own + [logo]:
        lines += [f"  - url: {url}", "    width: 64", "    height: 48", "    isCached: false"]
    return "\n".join(lines + ["---", f"Body of article {n}.", ""])


def seed_path(n):
    return f"posts/{2020 + n % 6}/{n:07d}.md"


def write_seeds(folder, count, base):
    for n in range(count):
        path = os.path.join(folder, seed_path(n))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(seed_text(n, base))


def run_child(args, out=subprocess.DEVNULL):
    """(wall seconds, peak RSS MB, exit status, stderr) of one child, measured by GNU time (the
    child's own peak after exec: a fork of this process would count this process's memory)."""
    with tempfile.NamedTemporaryFile(mode="r", suffix=".time") as measure:
        started = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", measure.name, *args], stdout=out, stderr=subprocess.PIPE)
        wall = time.perf_counter() - started
        peak_kb = int((measure.read().strip().splitlines() or ["0"])[-1])
    return wall, peak_kb / 1024, done.returncode, done.stderr.decode(errors="replace")


def thumbnail_spec(db):
    """The spec text of the configured variant, found from a real row (the key recipe)."""
    digest, key = db.execute("SELECT digest, key FROM thumbnails").fetchone()
    for version in range(1, 10):
        for quality in range(1, 101):
            for form in ("auto", "jpeg"):
                spec = f"thumb:64x64:inside:{form}:q{quality}:v{version}"
                if hashlib.sha256(f"{digest}|{spec}".encode()).hexdigest() == key:
                    return spec
    sys.exit("the thumbnail key recipe changed: update thumbnail_spec in bench/scale.py")


def fan(kind, name, suffix=""):
    return os.path.join(kind, name[:2], name[2:4], name + suffix)


def synthesize(cache, count, base):
    """Rows for seeds 0..count-1 beside the template's one synced seed (whose rows are real)."""
    db = sqlite3.connect(os.path.join(cache, "index.sqlite"))
    spec = thumbnail_spec(db)
    key0, thumb_bytes, thumb_sha = db.execute("SELECT key, bytes, sha256 FROM thumbnails").fetchone()
    template = os.path.join(cache, fan("thumbs", key0, ".jpg"))
    now = "2026-12-01 00:00:00.000"
    batch = []
    # A file has at most 65,000 links on ext4: a new copy of the template every 60,000.
    links = {"count": 0, "source": template}

    def flush():
        # For the dashboard's filters: every 31st original an animated GIF, every 53rd URL declared
        # square (a size mismatch), every 97th a failure (its row keeps no original).
        objects = [(d, 700, "gif" if int(d[:8], 16) % 31 == 0 else "jpeg", 64, 48, now, "L00000fQfQfQfQfQfQfQfQfQfQfQ", "#808080",
                    12 if int(d[:8], 16) % 31 == 0 else None) for d, _, _, _ in batch]
        thumbs = [(k, d, "thumb", 64, 48, "jpeg", thumb_bytes, now, thumb_sha) for d, k, _, _ in batch]
        sources = [(u, d, 64, 64 if n % 53 == 0 else 48, 64, 48, now, now) for n, (d, _, u, _) in enumerate(batch) if n % 97 != 96]
        failed = [(u, now, now) for n, (_, _, u, _) in enumerate(batch) if n % 97 == 96]
        refs = [(p, u, line) for _, _, u, (p, line) in batch]
        db.executemany("INSERT OR IGNORE INTO objects (digest, bytes, format, width, height, created_at, blurhash, dominant_color, frames) "
                       "VALUES (?,?,?,?,?,?,?,?,?)", objects)
        db.executemany("INSERT OR IGNORE INTO thumbnails (key, digest, variant, width, height, format, bytes, created_at, sha256) "
                       "VALUES (?,?,?,?,?,?,?,?,?)", thumbs)
        db.executemany("INSERT OR IGNORE INTO sources (url, digest, status, is_cached, declared_width, declared_height, "
                       "decoded_width, decoded_height, updated_at, referenced_at) VALUES (?,?,'ok',1,?,?,?,?,?,?)", sources)
        db.executemany("INSERT OR IGNORE INTO sources (url, status, last_error, failure_kind, is_cached, updated_at, referenced_at) "
                       "VALUES (?,'failed','http status: 404 Not Found','http status',0,?,?)", failed)
        db.executemany("INSERT OR IGNORE INTO seed_references (seed_path, url, line) VALUES (?,?,?)", refs)
        for _, key, _, _ in batch:
            path = os.path.join(cache, fan("thumbs", key, ".jpg"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not os.path.exists(path):
                if links["count"] % 60_000 == 59_999:
                    links["source"] = os.path.join(cache, f"template-{links['count']}.jpg")
                    shutil.copy(template, links["source"])
                os.link(links["source"], path)
                links["count"] += 1
        batch.clear()

    for n in range(count):
        urls = [f"{base}/i/{3 * n + k}.jpg" for k in range(3)] + [f"{base}/logo/{n % LOGOS}.jpg"]
        for line, url in enumerate(urls):
            digest = hashlib.sha256(url.encode()).hexdigest()
            key = hashlib.sha256(f"{digest}|{spec}".encode()).hexdigest()
            batch.append((digest, key, url, (seed_path(n), 4 + 4 * line)))
        if len(batch) >= 20_000:
            flush()
    flush()
    db.commit()
    db.close()


def make_cache(binary, work, count, sync_up_to, origin_base):
    """(cache, seeds, config, sync figures) for N seeds."""
    seeds, cache, config = (os.path.join(work, x) for x in ("seeds", "cache", "imgcache.yml"))
    with open(config, "w") as f:
        f.write(CONFIG)
    figures = {}
    if count <= sync_up_to:
        write_seeds(seeds, count, origin_base)
        command = [binary, "sync", seeds, "--cache", cache, "--config", config, "--quiet"]
        wall, rss, status, err = run_child(command)
        if status != 0:
            sys.exit(f"sync failed ({status}): {err[-2000:]}")
        figures["sync (first)"] = (wall, rss)
        figures["sync (nothing changed)"] = run_child(command)[:2]
    else:
        # One real seed makes the schema and one real thumbnail; the rest are rows.
        write_seeds(seeds, 1, origin_base)
        wall, rss, status, err = run_child([binary, "sync", seeds, "--cache", cache, "--config", config, "--quiet"])
        if status != 0:
            sys.exit(f"template sync failed: {err[-2000:]}")
        synthesize(cache, count, origin_base)
        write_seeds(seeds, count, origin_base)
    return cache, seeds, config, figures


def wait_healthy(port):
    for _ in range(300):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("serve did not become healthy")


def rss_mb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def manifest_read(port):
    """(first byte seconds, whole seconds, bytes) of one GET /v1/manifest."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("GET", "/v1/manifest")
    response = connection.getresponse()
    first = response.read(1)
    first_at = time.perf_counter() - started
    size = len(first) + len(response.read())
    return first_at, time.perf_counter() - started, size


DASHBOARD = ["/", "/images", "/images?page=200", "/images?format=gif", "/images?animated=1", "/failures", "/mismatches",
             "/search?q=/i/12345", "/search?q=.jpg", "/search?q=nowhere-at-all", "/search?q=logo/3",
             "/search?seed=posts/2023/0000123.md", "/search?seed=posts/2023", "/search?failed=1", "/search?mismatch=1",
             "/search?q=/i/1&failed=1", "/search?q=/i/77&seed=posts/2025&mismatch=1"]


def dashboard_timings(port):
    """Each dashboard page's time (ms, the best of three reads: the page, not a cold disk), printed; the slowest."""
    slowest = 0.0
    for path in DASHBOARD:
        best, first = None, None
        for _ in range(3):
            started = time.perf_counter()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                sys.exit(f"dashboard {path}: status {response.status}")
            best = elapsed if best is None else min(best, elapsed)
            first = elapsed if first is None else first
        print(f"  dashboard {path}: {best:.1f} ms (first read {first:.1f} ms)", flush=True)
        slowest = max(slowest, best)
    return slowest


def start_serve(binary, cache, config):
    """`imgcache serve` on a free port, once healthy: (process, port)."""
    port = seed_bench.free_port()
    server = subprocess.Popen([binary, "serve", "--cache", cache, "--config", config, "--port", str(port),
                               "--log-level", "warning"], stdout=subprocess.DEVNULL)
    try:
        wait_healthy(port)
    except SystemExit:
        server.kill()
        raise
    return server, port


def dashboard_figures(binary, cache, config, figures):
    server, port = start_serve(binary, cache, config)
    try:
        figures["dashboard: slowest page ms"] = dashboard_timings(port)
    finally:
        server.terminate()
        server.wait()


def serve_figures(binary, cache, config, figures):
    server, port = start_serve(binary, cache, config)
    try:
        time.sleep(5)
        figures["serve idle RSS MB"] = rss_mb(server.pid)
        figures["dashboard: slowest page ms"] = dashboard_timings(port)
        db = sqlite3.connect(os.path.join(cache, "index.sqlite"))
        digest = db.execute("SELECT digest FROM thumbnails LIMIT 1").fetchone()[0]
        db.close()
        first, whole, size = manifest_read(port)
        figures["manifest first byte s"] = first
        figures["manifest whole s"] = whole
        figures["manifest MB"] = size / 1e6
        load = subprocess.Popen(["wrk", "-t2", "-c8", "-d20s", f"http://127.0.0.1:{port}/t/{digest}/thumb.jpg"],
                                stdout=subprocess.PIPE, text=True)
        readers = [threading.Thread(target=manifest_read, args=(port,)) for _ in range(4)]
        for reader in readers:
            reader.start()
        out = load.communicate()[0]
        for reader in readers:
            reader.join()
        figures["thumbnails req/s under manifest load"] = float(next(
            (line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec")), "0"))
        figures["serve peak RSS MB"] = rss_mb(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait()


def command_figures(binary, cache, seeds, config, work, synced, count, figures):
    def timed(name, *args, out=subprocess.DEVNULL):
        wall, rss, status, err = run_child([binary, args[0], "--cache", cache, "--config", config, *args[1:]], out=out)
        if status not in (0, 1):
            sys.exit(f"{name} failed ({status}): {err[-2000:]}")
        figures[name] = (wall, rss)
    timed("status --json", "status", "--json")
    timed("stats --json", "stats", "--json")
    timed("export", "export", "--out", os.path.join(work, "export"), "--quiet")
    timed("export (nothing changed)", "export", "--out", os.path.join(work, "export"), "--quiet")
    if synced:
        timed("verify", "verify", "--json")
    db = sqlite3.connect(os.path.join(cache, "index.sqlite"))
    total = sum(db.execute(f"SELECT COALESCE(SUM(bytes), 0) FROM {table}").fetchone()[0] for table in ("objects", "thumbnails"))
    db.close()
    timed("prune --max-age 3650d (nothing to remove)", "prune", "--max-age", "3650d", "--grace", "0s", "--quiet")
    timed("prune --max-size (a tenth of the bytes)", "prune", "--max-size", str(int(total * 0.9)), "--grace", "0s", "--quiet")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/imgcache"))
    parser.add_argument("--seeds", default="10000,100000,250000")
    parser.add_argument("--sync-up-to", type=int, default=25_000)
    parser.add_argument("--work", default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--dashboard-only", action="store_true", help="make each cache, then time the dashboard's pages only")
    parser.add_argument("--postgres", action="store_true",
                        help="copy each cache's index into a throwaway PostgreSQL (imgcache migrate) and run everything on it")
    parser.add_argument("--sync-only", action="store_true", help="make each cache by sync, whatever --sync-up-to says, "
                        "and time only the first sync and one with nothing changed (a million images: 27 minutes here)")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    if args.postgres:
        import pg_server
        postgres = pg_server.Postgres()
    origin = start_origin()
    origin_base = f"http://127.0.0.1:{origin.server_address[1]}"
    columns = []
    counts = [int(x) for x in args.seeds.split(",")]
    sync_up_to = max(counts) if args.sync_only else args.sync_up_to
    for count in counts:
        work = tempfile.mkdtemp(prefix=f"imgcache-scale-{count}-", dir=args.work)
        started = time.perf_counter()
        cache, seeds, config, figures = make_cache(args.binary, work, count, sync_up_to, origin_base)
        synced = count <= sync_up_to
        print(f"N={count:,}: cache made in {time.perf_counter() - started:.0f} s ({'sync' if synced else 'rows written'})",
              flush=True)
        if args.postgres:
            config = into_postgres(postgres, args.binary, cache, config, count, figures)
        if args.dashboard_only:
            dashboard_figures(args.binary, cache, config, figures)
        elif not args.sync_only:
            command_figures(args.binary, cache, seeds, config, work, synced, count, figures)
            serve_figures(args.binary, cache, config, figures)
        columns.append((count, synced, figures))
        print(f"N={count:,}: {figures}", flush=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_table(columns)


def into_postgres(postgres, binary, cache, config, count, figures):
    """Copies the cache's index into a new database of the throwaway server `postgres`
    (`imgcache migrate`, timed); returns a config that names it."""
    url = postgres.create(f"scale{count}")
    shared = config.replace(".yml", "-postgres.yml")
    with open(config) as f, open(shared, "w") as out:
        out.write(f.read() + f"index: {url}\n")
    wall, rss, status, err = run_child([binary, "migrate", "--cache", cache, "--config", shared, "--json"])
    if status != 0:
        sys.exit(f"migrate failed ({status}): {err[-2000:]}")
    figures["migrate into PostgreSQL"] = (wall, rss)
    return shared


def print_table(columns):
    names = []
    for _, _, figures in columns:
        names += [name for name in figures if name not in names]
    print()
    print("| figure | " + " | ".join(f"N = {count:,} seeds ({3 * count + LOGOS:,} images{'' if synced else ', rows'})"
                                      for count, synced, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name in names:
        cells = []
        for _, _, figures in columns:
            value = figures.get(name)
            if value is None:
                cells.append("–")
            elif isinstance(value, tuple):
                cells.append(f"{value[0]:.1f} s, {value[1]:.0f} MB")
            else:
                cells.append(f"{value:,.2f}" if value < 100 else f"{value:,.0f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
