#!/usr/bin/env python3
"""Every format the web serves: imgcache thumb against its peers, per input format, side by side
in one run, on the same inputs, as whole processes; ratios are imgcache's time over the peer's.

    python3 bench/web_formats_bench.py [--photos DIR] [--binary PATH] [--size 1600]

Inputs are made first from the benchmark photos (default ../shared/corpus/photos), each scaled
to --size px on its longer side (HEIC and JPEG XL encoders are slow at full size): TIFF (LZW,
ImageMagick), HEIC (heif-enc -q 80), JPEG XL (cjxl -d 1), BMP (24-bit, ImageMagick) and ICO
(ImageMagick, entries 256 to 16 px); SVG inputs are 12 generated drawings (gradients, 400
Bezier paths, text), the same on every run. Each format is thumbnailed to 320 px: imgcache
against vipsthumbnail (JPEG q80; PNG for SVG, which is transparent), on one core (`taskset -c 0`,
imgcache --jobs 1, VIPS_CONCURRENCY=1) and on every core (imgcache's default jobs; vipsthumbnail
with its default threads). libvips here has no loader for BMP and ICO (no magick module), so
their peer is ImageMagick's `convert -thumbnail`; SVG is also measured against rsvg-convert.
Needs: apt-get install -y imagemagick libvips-tools libheif-examples libjxl-tools librsvg2-bin.
"""
import argparse
import glob
import os
import random
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import thumb_bench as tb  # noqa: E402  (run, output_files)


def svg_drawing(seed):
    """A drawing of the kind logos and illustrations are: a gradient, 400 filled curves, a title."""
    rng = random.Random(seed)
    paths = []
    for _ in range(400):
        x, y = rng.uniform(0, 800), rng.uniform(0, 600)
        points = " ".join(f"{rng.uniform(0, 800):.1f},{rng.uniform(0, 600):.1f}" for _ in range(6))
        paths.append(f'<path d="M{x:.1f},{y:.1f} C{points} Z" fill="#{rng.randrange(1 << 24):06x}" '
                     f'fill-opacity="{rng.uniform(0.2, 0.9):.2f}" stroke="#222" stroke-width="{rng.uniform(0.5, 3):.1f}"/>')
    return ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 800 600" width="800" height="600">'
            '<defs><linearGradient id="g" x2="1" y2="1"><stop offset="0" stop-color="#fde"/>'
            '<stop offset="1" stop-color="#9cf" stop-opacity="0.6"/></linearGradient></defs>'
            '<rect width="800" height="600" rx="40" fill="url(#g)"/>' + "".join(paths) +
            f'<text x="40" y="560" font-family="sans-serif" font-size="48">drawing {seed}</text></svg>\n')


def make_inputs(photos, folder, size):
    """{format: [files]}, every format made from the same scaled photos."""
    scaled = os.path.join(folder, "scaled")
    os.makedirs(scaled)
    inputs = {name: [] for name in ["tiff", "heic", "jxl", "bmp", "ico", "svg"]}
    for name in inputs:
        os.makedirs(os.path.join(folder, name))
    for photo in photos:
        stem = tb.stem(photo)
        png = os.path.join(scaled, stem + ".png")
        subprocess.run(["convert", photo, "-resize", f"{size}x{size}>", png], check=True)
        out = {name: os.path.join(folder, name, f"{stem}.{name}") for name in inputs}
        subprocess.run(["convert", png, "-compress", "LZW", out["tiff"]], check=True)
        subprocess.run(["heif-enc", "-q", "80", "-o", out["heic"], png], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cjxl", png, out["jxl"], "-d", "1"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run(["convert", png, "BMP3:" + out["bmp"]], check=True)
        subprocess.run(["convert", png, "-define", "icon:auto-resize=256,128,64,48,32,16", out["ico"]], check=True)
        for name in ["tiff", "heic", "jxl", "bmp", "ico"]:
            inputs[name].append(out[name])
    for seed in range(12):
        path = os.path.join(folder, "svg", f"drawing{seed}.svg")
        with open(path, "w") as file:
            file.write(svg_drawing(seed))
        inputs["svg"].append(path)
    return inputs


def measure(command, out, env=None):
    os.makedirs(out, exist_ok=True)
    seconds, rss = tb.run(command, env=env)
    files = tb.output_files(out)
    return {"seconds": seconds, "rss": rss, "files": len(files)}


def peers(fmt, files, out, one_core):
    """The peer's command for a format: (name, command, environment)."""
    prefix = ["taskset", "-c", "0"] if one_core else []
    vips_env = dict(os.environ, VIPS_CONCURRENCY="1") if one_core else dict(os.environ)
    if fmt in ("bmp", "ico"):
        script = " ; ".join(f"convert '{f}' -thumbnail 320x320 -quality 80 '{out}/{tb.stem(f)}.jpg'" for f in files)
        return "convert -thumbnail", prefix + ["sh", "-c", script], None
    suffix = "png" if fmt == "svg" else "jpg[Q=80]"
    return "vipsthumbnail", prefix + ["vipsthumbnail", "-s", "320", "-o", f"{out}/%s.{suffix}"] + files, vips_env


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", default=os.path.join(ROOT, "..", "shared", "corpus", "photos"))
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    parser.add_argument("--size", type=int, default=1600)
    args = parser.parse_args()
    photos = sorted(glob.glob(os.path.join(args.photos, "*.jpg")))
    with tempfile.TemporaryDirectory() as folder:
        inputs = make_inputs(photos, folder, args.size)
        print(f"inputs: {len(photos)} photos at {args.size} px as TIFF, HEIC, JPEG XL, BMP and ICO; 12 SVG drawings (800x600)")
        print(f"{'format':7} {'cores':5} {'imgcache s':>10} {'peer s':>8} {'ratio':>6} {'imgcache MB':>11} {'peer MB':>8}  peer")
        for fmt, files in inputs.items():
            for one_core in (True, False):
                tag = f"{fmt}-{'1' if one_core else 'n'}"
                mine_out, peer_out = os.path.join(folder, "out", tag, "i"), os.path.join(folder, "out", tag, "p")
                jobs = ["--jobs", "1"] if one_core else []
                prefix = ["taskset", "-c", "0"] if one_core else []
                mine = measure(prefix + [args.binary, "thumb", "--quiet"] + jobs + ["--size", "320x320", "-o", mine_out] + files, mine_out)
                name, command, env = peers(fmt, files, peer_out, one_core)
                peer = measure(command, peer_out, env)
                short = "" if mine["files"] == len(files) else f"  (imgcache wrote {mine['files']} of {len(files)})"
                print(f"{fmt:7} {'1' if one_core else 'all':5} {mine['seconds']:10.2f} {peer['seconds']:8.2f} "
                      f"{mine['seconds'] / peer['seconds']:6.2f} {mine['rss']:11.0f} {peer['rss']:8.0f}  {name}{short}")
        rsvg_out = os.path.join(folder, "out", "rsvg")
        os.makedirs(rsvg_out)
        script = " ; ".join(f"rsvg-convert -w 320 -h 240 '{f}' -o '{rsvg_out}/{tb.stem(f)}.png'" for f in inputs["svg"])
        rsvg = measure(["taskset", "-c", "0", "sh", "-c", script], rsvg_out)
        print(f"{'svg':7} {'1':5} {'':10} {rsvg['seconds']:8.2f} {'':6} {'':11} {rsvg['rss']:8.0f}  rsvg-convert -w 320 (one process per file)")


if __name__ == "__main__":
    main()
