#!/usr/bin/env python3
"""Colour benchmark: how far each tool's thumbnail of a wide-gamut photo lands from the sRGB
reference, per profile, in one run.

    python3 bench/colour_bench.py [--binary PATH] [--size 320]

The inputs are Tests/Fixtures/colour: one sRGB photo (the twin) and the same pixels converted
into Display P3, Adobe RGB (1998) and ProPhoto RGB with the profile embedded
(scripts/fixtures/make_fixtures.py). The reference is Pillow's Lanczos resize of the twin. A tool
that converts to sRGB lands near the twin's own re-encoding cost; one that keeps the numbers
(imgcache before colour management, or any tool that drops the profile) does not: the "numbers
kept" column is Pillow's resize of the wide-gamut file with its profile ignored.
Needs: apt-get install -y libvips-tools; pip install pillow numpy.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
COLOUR = os.path.join(ROOT, "Tests", "Fixtures", "colour")
FILES = ["srgb-twin.jpg", "display-p3.jpg", "adobe-rgb.jpg", "prophoto.jpg", "display-p3.png"]


def mean_difference(path, reference):
    image = Image.open(path).convert("RGB")
    ref = reference.resize(image.size, Image.LANCZOS)
    return float(np.abs(np.asarray(image, dtype=np.float64) - np.asarray(ref, dtype=np.float64)).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    parser.add_argument("--size", type=int, default=320)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="imgcache-colour-")
    reference = Image.open(os.path.join(COLOUR, "srgb-twin.jpg")).convert("RGB")
    inputs = [os.path.join(COLOUR, f) for f in FILES]
    ours, theirs, plain = os.path.join(work, "imgcache"), os.path.join(work, "vips"), os.path.join(work, "vips-plain")
    os.makedirs(theirs)
    os.makedirs(plain)
    subprocess.run([args.binary, "thumb", "--quiet", "--format", "jpeg", "--quality", "90", "--size", f"{args.size}x{args.size}",
                    "-o", ours] + inputs, check=True)
    for path in inputs:
        name = os.path.splitext(os.path.basename(path))[0]
        # --export-profile srgb: vips converts from the embedded profile (without it, `strip` would
        # drop the profile and keep the wide-gamut numbers).
        subprocess.run(["vipsthumbnail", path, "-s", str(args.size), "--export-profile", "srgb",
                        "-o", os.path.join(theirs, f"{name}.jpg[Q=90,strip]")], check=True)
        subprocess.run(["vipsthumbnail", path, "-s", str(args.size), "-o", os.path.join(plain, f"{name}.jpg[Q=90,strip]")], check=True)
    print(f"mean absolute difference per sample (0-255) from the sRGB reference, {args.size} px, JPEG q90")
    print("| input | imgcache | vipsthumbnail --export-profile srgb | vipsthumbnail (strip, no export profile) | numbers kept (no conversion) |")
    print("|---|---:|---:|---:|---:|")
    for path in inputs:
        name = os.path.splitext(os.path.basename(path))[0]
        kept_path = os.path.join(work, f"{name}-kept.png")
        kept = Image.open(path).convert("RGB")
        kept.thumbnail((args.size, args.size), Image.LANCZOS)
        kept.save(kept_path)
        print(f"| {os.path.basename(path)} | {mean_difference(os.path.join(ours, name + '.jpg'), reference):.2f} | "
              f"{mean_difference(os.path.join(theirs, name + '.jpg'), reference):.2f} | "
              f"{mean_difference(os.path.join(plain, name + '.jpg'), reference):.2f} | {mean_difference(kept_path, reference):.2f} |")


if __name__ == "__main__":
    sys.exit(main())
