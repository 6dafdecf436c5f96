#!/usr/bin/env bash
# How the TIFF, HEIC, JPEG XL, BMP and ICO fixtures were made (Debian 12's ImageMagick 6.9,
# libtiff-tools, heif-enc 1.15 with x265, cjxl 0.7, Pillow), all from images already in
# Tests/Fixtures: hopper.jpg (Pillow's test image, MIT-CMU), display-p3.png (colour/, Nuke,
# MIT) and PngSuite's basn6a08.png (alpha). Run from this folder to remake them.
set -euo pipefail
corpus=../../corpus
hopper="$corpus/jpeg/baseline/hopper.jpg"
alpha="$corpus/pngsuite/basn6a08.png"
p3=../../colour/display-p3.png
convert "$hopper" -resize 64x48! hopper.png          # the shared reference for the lossless ones
# TIFF: strips (LZW), tiles (Deflate), 16-bit, CMYK, alpha, an ICC profile, orientation 6.
convert hopper.png -compress LZW tiff:strips.tiff
convert hopper.png -compress Zip -define tiff:tile-geometry=16x16 tiff:tiled.tiff
convert hopper.png -depth 16 tiff:16bit.tiff
convert hopper.png -colorspace CMYK -compress None tiff:cmyk.tiff
convert "$alpha" -compress LZW tiff:alpha.tiff
convert hopper.png -orient RightTop tiff:rotated.tiff
convert "$p3" -resize 64x48! p3.png                  # keeps its Display P3 ICC profile
convert p3.png tiff:display-p3.tiff
# HEIC (x265) and JPEG XL (cjxl): lossy and lossless, alpha, a wide-gamut profile.
heif-enc -q 80 -o photo.heic hopper.png >/dev/null
heif-enc -q 80 -o alpha.heic "$alpha" >/dev/null
cjxl hopper.png lossless.jxl -d 0 >/dev/null 2>&1
cjxl "$hopper" photo.jxl -d 1 >/dev/null 2>&1
cjxl "$alpha" alpha.jxl -d 0 >/dev/null 2>&1
cjxl p3.png display-p3.jxl -d 0 >/dev/null 2>&1
# Cut copies (the first half) and a size bomb for each: the header's size patched to 60000x60000.
for file in strips.tiff photo.heic photo.jxl; do
    head -c $(( $(stat -c %s $file) / 2 )) $file > cut-$file
done
python3 - <<'PY'
import struct
# TIFF: a 64x48 uncompressed strip image whose ImageWidth/ImageLength say 60000x60000.
def tiff(width, height):
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
               (273, 4, 1, 8 + 2 + 12 * 8 + 4), (277, 3, 1, 1), (279, 4, 1, 64 * 48)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *e) for e in entries) + b"\0\0\0\0"
    return b"II*\0" + struct.pack("<I", 8) + ifd + bytes(64 * 48)
open("bomb-60000.tiff", "wb").write(tiff(60000, 60000))
PY
