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
# XYB (lossy) from the PNG whose gAMA 0.45455 makes its colour gamma 2.2, which libjxl cannot
# give 8-bit pixels in by itself; the reference is djxl's decode, tagged with that profile.
cjxl hopper.png lossy.jxl -d 1 >/dev/null 2>&1
djxl lossy.jxl lossy.jxl.ref.png >/dev/null 2>&1
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
# BMP: 1, 4, 8-bit palettes, RLE8, 16-bit 5-6-5 bit fields, 24-bit, 32-bit with alpha (V5
# header, bit fields), an OS/2 (12-byte header) file; top-down and RLE4 written below by hand.
convert hopper.png -monochrome BMP3:bits1.bmp
convert hopper.png -colors 16 BMP3:bits4.bmp
convert hopper.png -colors 256 BMP3:bits8.bmp
convert hopper.png -colors 256 -compress RLE BMP3:rle8.bmp
convert hopper.png -define bmp:subtype=RGB565 BMP:bits16.bmp
convert hopper.png BMP3:bits24.bmp
convert "$alpha" BMP:alpha.bmp
convert hopper.png BMP2:os2.bmp
# ICO: ImageMagick's (BMP entries, 16/32/48 px with AND masks) and Pillow's (PNG entries).
convert "$alpha" -define icon:auto-resize=48,32,16 bmp-entries.ico
python3 -c "from PIL import Image; Image.open('$alpha').save('png-entries.ico', sizes=[(16, 16), (32, 32)])"
python3 - <<'PY'
import struct
from PIL import Image
# Top-down: bits24.bmp's rows in the other order and its height negated.
data = bytearray(open("bits24.bmp", "rb").read())
offset, = struct.unpack_from("<I", data, 10)
width, height = struct.unpack_from("<ii", data, 18)
stride = (width * 3 + 3) // 4 * 4
rows = [data[offset + r * stride: offset + (r + 1) * stride] for r in range(height)]
data[offset:offset + stride * height] = b"".join(reversed(rows))
struct.pack_into("<i", data, 22, -height)
open("topdown.bmp", "wb").write(data)
# RLE4: a 16-colour 8x4 image with a run, an absolute run, a delta (skipped pixels stay
# transparent) and the end-of-bitmap code.
palette = b"".join(struct.pack("<BBBB", b, g, r, 0) for r, g, b in
                   [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)] + [(128, 128, 128)] * 12)
stream = bytes([8, 0x12, 0, 0,            # row 0: 8 pixels alternating 1 and 2; end of line
                0, 4, 0x33, 0x12, 0, 0,   # row 1: absolute 3 3 1 2; end of line
                2, 0x11, 0, 2, 4, 1,      # row 2: 1 1, then delta (+4, +1)
                0, 1])                    # end of bitmap: row 3 from x=6 and row 2 after x=2 skipped
info = struct.pack("<IiiHHIIiiII", 40, 8, 4, 1, 4, 2, len(stream), 2835, 2835, 16, 0)
header = struct.pack("<2sIHHI", b"BM", 14 + 40 + 64 + len(stream), 0, 0, 14 + 40 + 64)
open("rle4.bmp", "wb").write(header + info + palette + stream)
# Size bomb: bits24.bmp's header saying 60000x60000.
data = bytearray(open("bits24.bmp", "rb").read())
struct.pack_into("<ii", data, 18, 60000, 60000)
open("bomb-60000.bmp", "wb").write(data)
# References: Pillow's RGBA decode of each.
for name in ["bits1", "bits4", "bits8", "rle8", "bits16", "bits24", "alpha", "os2", "topdown"]:
    Image.open(name + ".bmp").convert("RGBA").save(name + ".bmp.ref.png")
for name in ["bmp-entries", "png-entries"]:
    Image.open(name + ".ico").convert("RGBA").save(name + ".ico.ref.png")
PY
for file in bits24.bmp bmp-entries.ico; do
    head -c $(( $(stat -c %s $file) / 2 )) $file > cut-$file
done
