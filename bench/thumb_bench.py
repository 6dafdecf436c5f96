#!/usr/bin/env python3
"""Thumbnail benchmark: imgcache thumb against vipsthumbnail, ImageMagick, GraphicsMagick and
Pillow, side by side in one run, on the same inputs, as whole processes.

    python3 bench/thumb_bench.py [--input DIR] [--binary PATH] [--box 320] [--quality 80]

Measures wall time and peak RSS (wait4 rusage of each process tree), total output bytes, and
mean SSIM of each tool's thumbnails against a reference: the full-resolution image resized by
Pillow with Lanczos to the same size (no shrink-on-load). Prints a table with time ratios to
imgcache. Needs: apt-get install -y libvips-tools imagemagick graphicsmagick libjpeg-turbo-progs;
pip install pillow scikit-image numpy.
"""
import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, cwd=None, env=None):
    """Runs one command under GNU time; returns (wall seconds, peak RSS in MB).

    GNU time measures the tool's own process: a forked Python child's high-water mark would
    include the benchmark's own memory from before exec."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        wrapped = ["/usr/bin/time", "-o", report.name, "-f", "%e %M"] + (["sh", "-c", cmd] if isinstance(cmd, str) else cmd)
        start = time.perf_counter()
        proc = subprocess.run(wrapped, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            shown = cmd if isinstance(cmd, str) else " ".join(cmd)
            print(f"warning: {shown[:120]} exited {proc.returncode}: {proc.stderr.decode(errors='replace')[:300]}", file=sys.stderr)
        fields = report.read().split()
    rss_kb = float(fields[-1]) if fields else float("nan")
    return elapsed, rss_kb / 1024.0


def output_files(directory):
    return sorted(p for p in glob.glob(os.path.join(directory, "*")) if os.path.isfile(p))


def stem(path):
    return os.path.splitext(os.path.basename(path))[0]


def ssim_against_reference(outputs, inputs):
    import numpy as np
    from PIL import Image, ImageOps
    from skimage.metrics import structural_similarity

    by_stem = {stem(p): p for p in inputs}
    scores = []
    for out in outputs:
        source = by_stem.get(stem(out).replace("_thumb", ""))
        if source is None:
            continue
        thumb = Image.open(out).convert("RGB")
        full = ImageOps.exif_transpose(Image.open(source)).convert("RGB")
        reference = full.resize(thumb.size, Image.LANCZOS)
        a = np.asarray(thumb, dtype=np.float64)
        b = np.asarray(reference, dtype=np.float64)
        scores.append(structural_similarity(a, b, channel_axis=2, data_range=255))
    return sum(scores) / len(scores) if scores else float("nan"), len(scores)


PILLOW_SCRIPT = r"""
import os, sys
from PIL import Image
box, quality, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for path in sys.argv[4:]:
    im = Image.open(path)
    im.draft("RGB", (box * 2, box * 2))
    im.thumbnail((box, box), Image.LANCZOS)
    if im.mode not in ("RGB", "L"):
        im = im.convert("RGB")
    name = os.path.splitext(os.path.basename(path))[0] + ".jpg"
    im.save(os.path.join(out, name), quality=quality, optimize=True)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", default=os.path.join(ROOT, "..", "shared", "corpus", "photos"))
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    parser.add_argument("--box", type=int, default=320)
    parser.add_argument("--quality", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=3,
                        help="run every tool this many times, interleaved; report the median time (default 3)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()

    inputs = sorted(p for p in glob.glob(os.path.join(args.input, "*")) if p.lower().endswith((".jpg", ".jpeg", ".png")))
    jpegs = [p for p in inputs if p.lower().endswith((".jpg", ".jpeg"))]
    if not inputs:
        sys.exit(f"no images in {args.input}")
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: run `swift build -c release` first")
    box, q = args.box, args.quality
    work = tempfile.mkdtemp(prefix="imgcache-bench-")
    pillow_script = os.path.join(work, "pillow_thumb.py")
    with open(pillow_script, "w") as f:
        f.write(PILLOW_SCRIPT)

    tools = [
        ("imgcache (parallel)", lambda o: [args.binary, "thumb", "--quiet", "--size", f"{box}x{box}", "--quality", str(q), "-o", o] + inputs),
        ("imgcache --jobs 1", lambda o: [args.binary, "thumb", "--quiet", "--jobs", "1", "--size", f"{box}x{box}", "--quality", str(q), "-o", o] + inputs),
        ("vipsthumbnail", lambda o: ["vipsthumbnail", "-s", str(box), "-o", os.path.join(o, f"%s.jpg[Q={q},strip]")] + inputs),
        ("ImageMagick", lambda o: ["mogrify", "-path", o, "-define", f"jpeg:size={2 * box}x{2 * box}", "-thumbnail", f"{box}x{box}",
                                   "-quality", str(q), "-strip", "-format", "jpg"] + inputs),
        # gm mogrify -output-directory wants relative input names: it runs in the input folder.
        ("GraphicsMagick", lambda o: ["gm", "mogrify", "-output-directory", o, "-size", f"{2 * box}x{2 * box}", "-thumbnail",
                                      f"{box}x{box}", "-quality", str(q), "-strip", "-format", "jpg"]
                                     + [os.path.basename(p) for p in inputs]),
        # GraphicsMagick parallelises its resize with OpenMP; this row shows it held to one thread.
        ("GraphicsMagick (1 thread)", lambda o: ["gm", "mogrify", "-output-directory", o, "-size", f"{2 * box}x{2 * box}",
                                                 "-thumbnail", f"{box}x{box}", "-quality", str(q), "-strip", "-format", "jpg"]
                                                + [os.path.basename(p) for p in inputs]),
        ("Pillow", lambda o: [sys.executable, pillow_script, str(box), str(q), o] + inputs),
    ]
    # The floor: entropy decoding of the JPEGs at 1/8 scale, nothing else.
    floor_cmd = " ; ".join(f"djpeg -scale 1/8 '{p}' > /dev/null" for p in jpegs)
    tools.append(("djpeg -scale 1/8 (JPEGs only, floor)", lambda o: floor_cmd))

    # Rounds are interleaved so that a noisy neighbour slows every tool alike.
    times = {name: [] for name, _ in tools}
    peaks = {name: 0.0 for name, _ in tools}
    outputs = {}
    for round_number in range(args.rounds):
        for name, make in tools:
            out = os.path.join(work, f"{round_number}-" + "".join(c if c.isalnum() else "_" for c in name))
            os.makedirs(out)
            env = dict(os.environ, OMP_NUM_THREADS="1") if name.endswith("(1 thread)") else None
            seconds, rss = run(make(out), cwd=args.input if name.startswith("GraphicsMagick") else None, env=env)
            times[name].append(seconds)
            peaks[name] = max(peaks[name], rss)
            outputs[name] = out
    results = []
    for name, _ in tools:
        files = output_files(outputs[name])
        ssim, _ = ssim_against_reference(files, inputs) if files else (float("nan"), 0)
        results.append(dict(tool=name, seconds=statistics.median(times[name]), all_seconds=times[name],
                            rss_mb=peaks[name], bytes=sum(os.path.getsize(p) for p in files), files=len(files), ssim=ssim))

    ours = results[0]["seconds"]
    ours_serial = results[1]["seconds"]
    vips_bytes = next(r["bytes"] for r in results if r["tool"] == "vipsthumbnail")
    print(f"{len(inputs)} inputs ({len(jpegs)} JPEG) from {args.input}, {box}px box, JPEG q{q}, "
          f"{os.cpu_count()} cores, median of {args.rounds} interleaved rounds")
    print(f"{'tool':40} {'time s':>7} {'par/x':>6} {'ser/x':>6} {'SSIM':>6} {'bytes':>8} {'vs vips':>7} {'RSS MB':>7} {'files':>5}")
    for r in results:
        ratio = ours / r["seconds"]
        ratio_serial = ours_serial / r["seconds"]
        ssim = "-" if r["ssim"] != r["ssim"] else f"{r['ssim']:.3f}"
        vs = "-" if not r["bytes"] else f"{r['bytes'] / vips_bytes:.2f}"
        print(f"{r['tool']:40} {r['seconds']:7.2f} {ratio:6.2f} {ratio_serial:6.2f} {ssim:>6} {r['bytes']:8d} {vs:>7} {r['rss_mb']:7.1f} {r['files']:5d}")
    print("par/x, ser/x: imgcache's time (parallel, --jobs 1) divided by the tool's (below 1: imgcache is faster)")
    peers = [r for r in results if not r["tool"].startswith(("imgcache", "djpeg")) and "(1 thread)" not in r["tool"]]
    fastest = min(peers, key=lambda r: r["seconds"])
    print(f"fastest peer: {fastest['tool']} {fastest['seconds']:.2f} s; "
          f"imgcache --jobs 1 is {ours_serial / fastest['seconds']:.2f}x of it (target <= 1.00), "
          f"parallel {ours / fastest['seconds']:.2f}x (target <= 0.60)")
    if args.json:
        print(json.dumps(results, indent=2))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
