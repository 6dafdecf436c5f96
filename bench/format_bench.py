#!/usr/bin/env python3
"""Formats benchmark: imgcache thumb against vipsthumbnail writing JPEG, WebP and AVIF, side by
side in one run, on the same photos, at 320 px and 1280 px, as whole processes.

    python3 bench/format_bench.py [--input DIR] [--binary PATH] [--sizes 320,1280] [--formats jpeg,webp,avif]
    python3 bench/format_bench.py --calibrate      # imgcache's WebP/AVIF quality that matches JPEG q80's SSIM

For each size and format it reports imgcache's bytes, mean SSIM (against Pillow's Lanczos resize
of the full image, as bench/thumb_bench.py) and wall time, on one core (`taskset -c 0`, imgcache
--jobs 1) and on both (imgcache's default jobs, vips's own threads). vips is run at several
qualities and its bytes are interpolated at imgcache's SSIM ("vips bytes at equal SSIM"); its
time is taken at the quality whose SSIM is nearest. Needs: apt-get install -y libvips-tools;
pip install pillow scikit-image numpy (Pillow 11+ reads AVIF).
"""
import argparse
import glob
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import thumb_bench as tb  # noqa: E402  (run, output_files, ssim_against_reference)

EXT = {"jpeg": "jpg", "webp": "webp", "avif": "avif"}
VIPS_QUALITIES = {"jpeg": [65, 72, 80, 88, 94], "webp": [60, 70, 78, 85, 92], "avif": [35, 45, 55, 65, 75]}


def measure(name, command, inputs, out):
    os.makedirs(out, exist_ok=True)
    seconds, rss = tb.run(command)
    files = tb.output_files(out)
    ssim, n = tb.ssim_against_reference(files, inputs)
    return {"name": name, "seconds": seconds, "rss": rss, "bytes": sum(os.path.getsize(f) for f in files), "ssim": ssim, "n": n}


def imgcache(binary, fmt, quality, size, jobs, inputs, out, one_core):
    command = (["taskset", "-c", "0"] if one_core else []) + [binary, "thumb", "--quiet", "--format", fmt, "--quality", str(quality),
                                                             "--size", f"{size}x{size}", "-o", out]
    if jobs:
        command += ["--jobs", str(jobs)]
    return measure("imgcache", command + inputs, inputs, out)


def vips(fmt, quality, size, inputs, out, one_core):
    command = (["taskset", "-c", "0"] if one_core else []) + ["vipsthumbnail", "-s", str(size), "-o",
                                                             os.path.join(out, f"%s.{EXT[fmt]}[Q={quality},strip]")]
    return measure("vips", command + inputs, inputs, out)


def interpolate_bytes(points, ssim):
    """Bytes at `ssim` on the (ssim, bytes) curve of vips's qualities (linear between neighbours)."""
    points = sorted(points)
    if ssim <= points[0][0]:
        return points[0][1], "<="
    if ssim >= points[-1][0]:
        return points[-1][1], ">="
    for (s0, b0), (s1, b1) in zip(points, points[1:]):
        if s0 <= ssim <= s1:
            return b0 + (b1 - b0) * (ssim - s0) / (s1 - s0 or 1), "="
    return points[-1][1], "?"


def calibrate(args, inputs, work):
    """imgcache's WebP and AVIF qualities whose mean SSIM is nearest JPEG q80's, per size."""
    for size in args.sizes:
        base = imgcache(args.binary, "jpeg", 80, size, None, inputs, os.path.join(work, f"cal-jpeg-{size}"), False)
        print(f"{size} px: JPEG q80 SSIM {base['ssim']:.4f}, {base['bytes'] / 1024:.0f} KB")
        for fmt, qualities in (("webp", range(70, 96, 3)), ("avif", range(45, 81, 5))):
            best = None
            for q in qualities:
                r = imgcache(args.binary, fmt, q, size, None, inputs, os.path.join(work, f"cal-{fmt}-{size}-{q}"), False)
                print(f"  {fmt} q{q}: SSIM {r['ssim']:.4f}  {r['bytes'] / 1024:.0f} KB  {r['seconds']:.2f} s")
                if best is None or abs(r["ssim"] - base["ssim"]) < abs(best[1] - base["ssim"]):
                    best = (q, r["ssim"], r["bytes"])
            print(f"  -> {fmt} q{best[0]}: SSIM {best[1]:.4f} ({best[1] - base['ssim']:+.4f}), {best[2] / base['bytes']:.2f}x JPEG's bytes")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", default=os.path.join(ROOT, "..", "shared", "corpus", "photos"))
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    parser.add_argument("--sizes", default="320,1280")
    parser.add_argument("--formats", default="jpeg,webp,avif")
    parser.add_argument("--quality", default=None, help="imgcache's quality per format, e.g. jpeg=80,webp=75,avif=57 "
                        "(default: the default variants' at 320 and 1280 px, else 80/75/57)")
    parser.add_argument("--calibrate", action="store_true")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    def qualities_at(size):
        if args.quality:
            return dict((k, int(v)) for k, v in (item.split("=") for item in args.quality.split(",")))
        return {320: {"jpeg": 80, "webp": 70, "avif": 52}, 1280: {"jpeg": 80, "webp": 79, "avif": 62}}.get(
            size, {"jpeg": 80, "webp": 75, "avif": 57})
    inputs = sorted(p for p in glob.glob(os.path.join(args.input, "*")) if p.lower().endswith((".jpg", ".jpeg", ".png")))
    if not inputs:
        sys.exit(f"no images in {args.input}")
    work = tempfile.mkdtemp(prefix="imgcache-formats-")
    if args.calibrate:
        return calibrate(args, inputs, work)

    print(f"{len(inputs)} photos from {args.input}; imgcache qualities {[(s, qualities_at(s)) for s in args.sizes]}; "
          f"vips at {VIPS_QUALITIES}")
    header = ("| size | format | imgcache KB | SSIM | vips KB at equal SSIM | bytes ratio | vips Q (SSIM) | "
              "1 core: imgcache s | vips s | ratio | 2 cores: imgcache s | vips s | ratio |")
    rows = []
    for size in args.sizes:
        qualities = qualities_at(size)
        for fmt in args.formats.split(","):
            tag = f"{size}-{fmt}"
            ours1 = imgcache(args.binary, fmt, qualities[fmt], size, 1, inputs, os.path.join(work, f"i1-{tag}"), True)
            ours2 = imgcache(args.binary, fmt, qualities[fmt], size, None, inputs, os.path.join(work, f"i2-{tag}"), False)
            sweep = [vips(fmt, q, size, inputs, os.path.join(work, f"v2-{tag}-{q}"), False) for q in VIPS_QUALITIES[fmt]]
            points = [(r["ssim"], r["bytes"]) for r in sweep]
            equal_bytes, how = interpolate_bytes(points, ours1["ssim"])
            nearest_q, nearest = min(zip(VIPS_QUALITIES[fmt], sweep), key=lambda qr: abs(qr[1]["ssim"] - ours1["ssim"]))
            vips1 = vips(fmt, nearest_q, size, inputs, os.path.join(work, f"v1-{tag}"), True)
            rows.append(f"| {size} | {fmt} | {ours1['bytes'] / 1024:.0f} | {ours1['ssim']:.4f} | {how}{equal_bytes / 1024:.0f} | "
                        f"{ours1['bytes'] / equal_bytes:.2f}x | {nearest_q} ({nearest['ssim']:.4f}) | "
                        f"{ours1['seconds']:.2f} | {vips1['seconds']:.2f} | {ours1['seconds'] / vips1['seconds']:.2f}x | "
                        f"{ours2['seconds']:.2f} | {nearest['seconds']:.2f} | {ours2['seconds'] / nearest['seconds']:.2f}x |")
            print(rows[-1], flush=True)
    print()
    print(header)
    print("|" + "---|" * 13)
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
