#!/usr/bin/env python3
"""Smart crop side by side: every benchmark photo as a square cover crop by imgcache
(`--gravity attention`, `entropy`, centre) and by libvips (`vipsthumbnail --smartcrop attention`),
in one HTML page, with how far apart the two attention crops are.

    python3 bench/smartcrop_page.py [--binary PATH] [--photos DIR] [--size 300] [--out DIR]

The page (OUT/index.html) is for looking at; the table it prints gives, per photo, the offset of
each attention crop along the cropped axis (as a fraction of the image) and their difference.
Needs libvips-tools (vipsthumbnail).
"""
import argparse
import html
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def offset(crop, full):
    """Where `crop` (a thumbnail) sits in `full` (the same photo scaled to cover the box) along the
    axis that was cropped, as a fraction of that axis: found by comparing pixel rows/columns."""
    from PIL import Image, ImageChops

    def difference(x, y):
        return sum(i * n for i, n in enumerate(ImageChops.difference(x, y).histogram()))

    a, b = Image.open(crop).convert("L"), Image.open(full).convert("L")
    if b.width > a.width:  # cropped horizontally
        span = b.width - a.width
        best = min(range(span + 1), key=lambda x: difference(a, b.crop((x, 0, x + a.width, a.height))))
        return best / b.width
    span = b.height - a.height
    best = min(range(span + 1), key=lambda y: difference(a, b.crop((0, y, a.width, y + a.height))))
    return best / b.height


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/imgcache"))
    parser.add_argument("--photos", default=os.path.join(ROOT, "../shared/corpus/photos"))
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--out", default="/tmp/smartcrop")
    args = parser.parse_args()
    photos = sorted(p for p in os.listdir(args.photos) if p.lower().endswith((".jpg", ".jpeg", ".png")))
    os.makedirs(args.out, exist_ok=True)
    s = args.size
    inputs = [os.path.join(args.photos, p) for p in photos]
    for gravity in ["attention", "entropy", "center"]:
        subprocess.run([args.binary, "thumb", "--size", f"{s}x{s}", "--fit", "cover", "--gravity", gravity, "--format", "jpeg",
                        "-o", os.path.join(args.out, gravity), "--quiet"] + inputs, check=True)
    os.makedirs(os.path.join(args.out, "vips"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "full"), exist_ok=True)
    rows, table = [], []
    for photo, path in zip(photos, inputs):
        stem = os.path.splitext(photo)[0]
        vips = os.path.join(args.out, "vips", stem + ".jpg")
        subprocess.run(["vipsthumbnail", path, "--size", f"{s}x{s}", "--smartcrop", "attention", "-o", vips + "[Q=85]"], check=True)
        # The whole photo scaled so its short side is the box: both crops are windows of it.
        full = os.path.join(args.out, "full", stem + ".jpg")
        from PIL import Image, ImageOps
        width, height = ImageOps.exif_transpose(Image.open(path)).size
        subprocess.run(["vipsthumbnail", path, "--size", f"{s}x" if width < height else f"x{s}", "-o", full + "[Q=95]"], check=True)
        ours = os.path.join(args.out, "attention", stem + ".jpg")
        a, v = offset(ours, full), offset(vips, full)
        table.append((photo, a, v))
        cells = "".join(f'<td><img src="{d}/{html.escape(stem)}.jpg" width="{s}" height="{s}"></td>'
                        for d in ["attention", "vips", "entropy", "center"])
        rows.append(f"<tr><th>{html.escape(photo)}<br>offset imgcache {a:.2f}, libvips {v:.2f}</th>{cells}</tr>")
    with open(os.path.join(args.out, "index.html"), "w") as f:
        f.write("<!doctype html><meta charset=utf-8><title>Smart crop: imgcache and libvips</title>"
                "<style>body{font:14px system-ui;margin:16px}td,th{padding:4px;vertical-align:top;text-align:left}th{width:180px;font-weight:normal}</style>"
                f"<h1>Square cover crops, {s}×{s}</h1><table><tr><th></th><th>imgcache attention</th><th>libvips attention</th>"
                "<th>imgcache entropy</th><th>centre</th></tr>" + "".join(rows) + "</table>")
    print("| photo | imgcache attention | libvips attention | difference |")
    print("|---|---|---|---|")
    for photo, a, v in table:
        print(f"| {photo} | {a:.2f} | {v:.2f} | {abs(a - v):.2f} |")
    close = sum(1 for _, a, v in table if abs(a - v) <= 0.1)
    print(f"\n{close} of {len(table)} within 0.10 of libvips's crop; page: {os.path.join(args.out, 'index.html')}")


if __name__ == "__main__":
    sys.exit(main())
