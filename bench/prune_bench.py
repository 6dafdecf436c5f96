#!/usr/bin/env python3
"""Prune and verify benchmark.

    python3 bench/prune_bench.py [--binary PATH] [--images 100000] [--verify-mb 512] [--postgres]

Prune: an index of 100,000 images (synthetic rows: an original and three thumbnails each,
a source URL, an access time for 60% of them, ages spread over 90 days; real files for a
sample of 2,000 images), copied fresh for each run of `imgcache prune`:
  --max-size (90% and half of the cache), --max-age 30d, --unreferenced (seeds naming half the URLs),
  and --max-size --dry-run. Whole process wall time and peak RSS (GNU time).
  Targets: <= 5 s and <= 200 MB each. With --postgres the same runs again with the index in
  PostgreSQL (a server started here; the rows imported once by `imgcache migrate`), side by side:
  target <= 10 s each.

Verify: originals of random bytes (1-3 MB each, --verify-mb in all) stored by their SHA-256,
hashed by `sha256sum` (one process, the files warm in the page cache) and by
`imgcache verify --jobs 1` and `imgcache verify` (one thread per core), median of 3.
Target: imgcache >= 0.8x sha256sum's throughput.
"""
import argparse
import datetime
import hashlib
import os
import random
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")


def run_timed(cmd):
    """Wall seconds, peak RSS MB, stdout, stderr."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%M"] + cmd,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        fields = report.read().split()
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)[:120]} exited {proc.returncode}: {proc.stderr.decode()[-600:]}")
    return elapsed, float(fields[-1]) / 1024 if fields else float("nan"), proc.stdout, proc.stderr.decode()


def stamp(seconds_ago, now):
    return (now - datetime.timedelta(seconds=seconds_ago)).strftime("%Y-%m-%d %H:%M:%S.000")


def new_cache(binary, path):
    """An empty cache with imgcache's own schema (a sync of an empty seeds folder)."""
    shutil.rmtree(path, ignore_errors=True)
    seeds = path + "-emptyseeds"
    os.makedirs(seeds, exist_ok=True)
    subprocess.run([binary, "sync", seeds, "--cache", path, "--quiet"], check=True)
    return sqlite3.connect(os.path.join(path, "index.sqlite"))


def fan(kind, name, suffix=""):
    return os.path.join(kind, name[:2], name[2:4], name + suffix)


def make_prune_cache(binary, path, images, sample, seeds_dir):
    db = new_cache(binary, path)
    rng = random.Random(7)
    now = datetime.datetime.utcnow()
    sample_set = set(rng.sample(range(images), min(sample, images)))
    objects, thumbs, sources, access = [], [], [], []
    for i in range(images):
        digest = hashlib.sha256(f"image {i}".encode()).hexdigest()
        written = rng.uniform(0, 90 * 86400)
        original = rng.randint(100_000, 3_000_000)
        objects.append((digest, original, "jpeg", 2000, 1500, stamp(written, now)))
        for variant, size in (("thumb", 20_000), ("card", 45_000), ("large", 150_000)):
            key = hashlib.sha256(f"{digest} {variant}".encode()).hexdigest()
            thumbs.append((key, digest, variant, 320, 240, "jpeg", size + rng.randint(0, 5000), stamp(written, now)))
        url = f"https://cdn.example.com/images/{i}.jpg"
        referenced = rng.uniform(0, 90 * 86400)
        sources.append((url, digest, 1, stamp(written, now), stamp(referenced, now)))
        if rng.random() < 0.6:
            access.append((digest, stamp(rng.uniform(0, 90 * 86400), now)))
        if i in sample_set:
            for relative, size in [(fan("objects", digest), 4096)] + [
                    (fan("thumbs", t[0], ".jpg"), 1024) for t in thumbs[-3:]]:
                full = os.path.join(path, relative)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "wb") as f:
                    f.write(b"\0" * size)
    db.executemany("INSERT INTO objects (digest, bytes, format, width, height, created_at) VALUES (?,?,?,?,?,?)", objects)
    db.executemany("INSERT INTO thumbnails (key, digest, variant, width, height, format, bytes, created_at) "
                   "VALUES (?,?,?,?,?,?,?,?)", thumbs)
    db.executemany("INSERT INTO sources (url, digest, status, is_cached, updated_at, referenced_at) "
                   "VALUES (?,?,'ok',?,?,?)", sources)
    db.executemany("INSERT INTO access (digest, last_access) VALUES (?,?)", access)
    db.commit()
    total = db.execute("SELECT (SELECT SUM(bytes) FROM objects) + (SELECT SUM(bytes) FROM thumbnails)").fetchone()[0]
    db.close()
    # Seeds naming every second URL, 500 per document.
    shutil.rmtree(seeds_dir, ignore_errors=True)
    os.makedirs(seeds_dir)
    urls = [s[0] for s in sources[::2]]
    for n in range(0, len(urls), 500):
        with open(os.path.join(seeds_dir, f"{n // 500:04d}.md"), "w") as f:
            f.write("---\ntitle: bench\nimages:\n")
            for url in urls[n:n + 500]:
                f.write(f"  - url: {url}\n    width: 2000\n    height: 1500\n    isCached: true\n")
            f.write("---\n")
    return total


def prune_runs(binary, base, runs, index=None):
    """Each run on a fresh copy of the cache folder (and, with `index`, a fresh copy of that
    PostgreSQL template database): wall s, peak RSS MB, images removed, files unlinked, bytes."""
    work = os.path.join(OUT, "prune-work")
    rows = []
    for name, args in runs:
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(base, work)
        config = []
        if index:
            postgres, template = index
            path = os.path.join(OUT, "prune-pg.yml")
            with open(path, "w") as f:
                f.write(f"index: {postgres.create('prune_run', template=template)}\n")
            config = ["--config", path]
        # The plain output a cron job gets: one line per removed image, the summary on stderr.
        seconds, rss, out, err = run_timed([binary, "prune", "--cache", work, "--grace", "1h"] + config + args)
        summary = re.search(r"remove[d]? (\d+) of \d+ images.*?, (\d+) files, ([\d.]+) GB reclaimed", err)
        if not summary:
            sys.exit(f"no summary in: {err}")
        lines = out.count(b"\n")
        assert lines == int(summary.group(1)), (lines, summary.group(1))
        rows.append((name, seconds, rss, int(summary.group(1)), int(summary.group(2)), float(summary.group(3)) * 1e9))
    return rows


def prune_bench(binary, images, sample, postgres=False):
    base = os.path.join(OUT, "prune-base")
    seeds = os.path.join(OUT, "prune-seeds")
    print(f"building an index of {images:,} images ({sample:,} with real files)...", file=sys.stderr)
    total = make_prune_cache(binary, base, images, sample, seeds)
    runs = [
        ("--max-size (90%: a routine eviction)", ["--max-size", str(total * 9 // 10)]),
        ("--max-size (half)", ["--max-size", str(total // 2)]),
        ("--max-age 30d", ["--max-age", "30d"]),
        ("--unreferenced (half the URLs)", ["--unreferenced", seeds]),
        ("--max-size (half) --dry-run", ["--max-size", str(total // 2), "--dry-run"]),
    ]
    rows = prune_runs(binary, base, runs)
    print(f"\n## prune over {images:,} images ({total / 1e9:.1f} GB in the index)\n")
    print("| run | time s | peak RSS MB | images removed | files unlinked (sample) | GB reclaimed |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds, rss, removed, files, reclaimed in rows:
        print(f"| {name} | {seconds:.2f} | {rss:.0f} | {removed:,} | {files:,} | {reclaimed / 1e9:.1f} |")
    worst = max(r[1] for r in rows), max(r[2] for r in rows)
    print(f"\ntargets: <= 5 s (worst {worst[0]:.2f} s), <= 200 MB (worst {worst[1]:.0f} MB)")
    if postgres:
        postgres_bench(binary, base, runs, rows, images)


def postgres_bench(binary, base, runs, sqlite_rows, images):
    """The same runs with the index in PostgreSQL (imported once with `imgcache migrate`)."""
    import pg_server
    server = pg_server.Postgres()
    path = os.path.join(OUT, "prune-pg.yml")
    with open(path, "w") as f:
        f.write(f"index: {server.create('prune_base')}\n")
    started = time.perf_counter()
    subprocess.run([binary, "migrate", "--cache", base, "--config", path, "--json"], check=True, capture_output=True)
    print(f"\n(imported {images:,} images into PostgreSQL with imgcache migrate in {time.perf_counter() - started:.1f} s)")
    server.psql("VACUUM ANALYZE", database="prune_base")
    rows = prune_runs(binary, base, runs, index=(server, "prune_base"))
    print(f"\n## the same prunes with the index in PostgreSQL {server.psql('SHOW server_version').strip()} "
          f"(loopback, fsync on)\n")
    print("| run | time s | peak RSS MB | images removed | PostgreSQL / SQLite |")
    print("|---|---:|---:|---:|---:|")
    for (name, seconds, rss, removed, _, _), sqlite in zip(rows, sqlite_rows):
        print(f"| {name} | {seconds:.2f} | {rss:.0f} | {removed:,} | {seconds / sqlite[1]:.2f} |")
        # The same plan; but the age cutoffs (--max-age, --grace) are "now" minus an age, and now has
        # moved on by minutes since the SQLite run: a few images near a cutoff may differ.
        assert abs(removed - sqlite[3]) <= max(5, sqlite[3] // 1000), (name, removed, sqlite[3])
    print(f"\ntarget: <= 10 s (worst {max(r[1] for r in rows):.2f} s)")


def verify_bench(binary, megabytes):
    path = os.path.join(OUT, "verify-cache")
    db = new_cache(binary, path)
    rng = random.Random(11)
    files, made = [], 0
    now = datetime.datetime.utcnow()
    while made < megabytes * 1_000_000:
        data = rng.randbytes(rng.randint(1_000_000, 3_000_000))
        digest = hashlib.sha256(data).hexdigest()
        full = os.path.join(path, fan("objects", digest))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        db.execute("INSERT INTO objects (digest, bytes, format, width, height, created_at) VALUES (?,?,?,?,?,?)",
                   (digest, len(data), "jpeg", 1, 1, stamp(0, now)))
        files.append(full)
        made += len(data)
    db.commit()
    db.close()
    subprocess.run(["sha256sum"] + files, stdout=subprocess.DEVNULL, check=True)  # warm the page cache
    commands = {
        "sha256sum (one process)": ["sha256sum"] + files,
        "imgcache verify --jobs 1": [binary, "verify", "--cache", path, "--jobs", "1", "--quiet"],
        "imgcache verify (one thread per core)": [binary, "verify", "--cache", path, "--quiet"],
    }
    times = {name: [] for name in commands}
    for _ in range(3):
        for name, cmd in commands.items():
            seconds, _, _, _ = run_timed(cmd)
            times[name].append(seconds)
    base = statistics.median(times["sha256sum (one process)"])
    print(f"\n## verify: {len(files)} originals, {made / 1e6:.0f} MB, warm page cache, median of 3\n")
    print("| tool | time s | MB/s | throughput vs sha256sum |")
    print("|---|---:|---:|---:|")
    for name, values in times.items():
        seconds = statistics.median(values)
        print(f"| {name} | {seconds:.2f} | {made / 1e6 / seconds:.0f} | {base / seconds:.2f}x |")
    print("\ntarget: >= 0.80x sha256sum")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/imgcache"))
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000)
    parser.add_argument("--verify-mb", type=int, default=512)
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--postgres", action="store_true",
                        help="also run the prunes with the index in PostgreSQL (needs apt-get install postgresql)")
    args = parser.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"{args.binary} not found: swift build -c release")
    os.makedirs(OUT, exist_ok=True)
    prune_bench(args.binary, args.images, args.sample, postgres=args.postgres)
    if not args.skip_verify:
        verify_bench(args.binary, args.verify_mb)


if __name__ == "__main__":
    main()
