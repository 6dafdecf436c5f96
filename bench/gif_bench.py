#!/usr/bin/env python3
"""GIF benchmark: imgcache thumb against vipsthumbnail (still GIFs to 320 px JPEG) and against
gif2webp -lossy and vipsthumbnail (animated GIFs to 320 px animated WebP), side by side in one
run, on the same inputs, as whole processes, one core (`taskset -c 0`, imgcache --jobs 1,
VIPS_CONCURRENCY=1).

    python3 bench/gif_bench.py [--photos DIR] [--binary PATH]

The inputs are made first with ImageMagick from the benchmark photos (default
../shared/corpus/photos): each photo as a 640 px still GIF, and the photos six at a time as
480 px animations of six frames (100 ms each, looping). gif2webp keeps the GIF's size (it does
not resize), so its row says what a GIF-to-WebP converter costs without the thumbnail step.
Needs: apt-get install -y imagemagick libvips-tools webp.
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import thumb_bench as tb  # noqa: E402  (run, output_files)


def make_inputs(photos, folder):
    stills, animations = os.path.join(folder, "still"), os.path.join(folder, "animated")
    os.makedirs(stills)
    os.makedirs(animations)
    for photo in photos:
        name = os.path.splitext(os.path.basename(photo))[0]
        subprocess.run(["convert", photo, "-resize", "640x640", os.path.join(stills, name + ".gif")], check=True)
    for start in range(0, len(photos) - 5, 6):
        group = photos[start:start + 6]
        subprocess.run(["convert", "-delay", "10", "-loop", "0"] + [a for p in group for a in ["(", p, "-resize", "480x320^",
                        "-gravity", "center", "-extent", "480x320", ")"]] + [os.path.join(animations, f"anim{start // 6}.gif")],
                       check=True)
    return sorted(glob.glob(os.path.join(stills, "*.gif"))), sorted(glob.glob(os.path.join(animations, "*.gif")))


def measure(name, command, out, env=None):
    os.makedirs(out, exist_ok=True)
    seconds, rss = tb.run(command, env=env)
    files = tb.output_files(out)
    return {"name": name, "seconds": seconds, "rss": rss, "bytes": sum(os.path.getsize(f) for f in files), "files": len(files)}


def frames(path):
    info = subprocess.run(["webpinfo", "-summary", path], capture_output=True, text=True).stdout
    return sum(1 for line in info.splitlines() if line.strip().startswith("Chunk ANMF"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", default=os.path.join(ROOT, "..", "shared", "corpus", "photos"))
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "imgcache"))
    args = parser.parse_args()
    photos = sorted(glob.glob(os.path.join(args.photos, "*.jpg")))
    one = ["taskset", "-c", "0"]
    vips_env = dict(os.environ, VIPS_CONCURRENCY="1")
    with tempfile.TemporaryDirectory() as folder:
        stills, animations = make_inputs(photos, folder)
        print(f"inputs: {len(stills)} still GIFs (640 px), {len(animations)} animated GIFs (480x320, 6 frames)")
        rows = []
        out = os.path.join(folder, "out")
        rows.append(("still → 320 px JPEG", measure("imgcache", one + [args.binary, "thumb", "--quiet", "--jobs", "1", "--size", "320x320",
                                                                     "-o", out + "/i1"] + stills, out + "/i1"),
                     measure("vipsthumbnail", one + ["vipsthumbnail", "-s", "320", "-o", out + "/v1/%s.jpg[Q=80]"] + stills,
                             out + "/v1", vips_env)))
        rows.append(("animated → 320 px animated WebP",
                     measure("imgcache", one + [args.binary, "thumb", "--quiet", "--jobs", "1", "--format", "webp", "--size", "320x320",
                                                "-o", out + "/i2"] + animations, out + "/i2"),
                     measure("vipsthumbnail", one + ["sh", "-c", " ; ".join(
                         f"vipsthumbnail '{a}[n=-1]' -s 320 -o '{out}/v2/%s.webp[Q=75]'" for a in animations)], out + "/v2", vips_env)))
        gif2webp = measure("gif2webp -lossy (no resize)", one + ["sh", "-c", " ; ".join(
            f"gif2webp -quiet -lossy -q 75 '{a}' -o '{out}/g/{os.path.basename(a)}.webp'" for a in animations)], out + "/g")
        print(f"{'':34} {'imgcache s':>10} {'peer s':>8} {'ratio':>6} {'imgcache B':>11} {'peer B':>9} {'ratio':>6}")
        for label, mine, peer in rows:
            print(f"{label:34} {mine['seconds']:10.2f} {peer['seconds']:8.2f} {mine['seconds'] / peer['seconds']:6.2f} "
                  f"{mine['bytes']:11d} {peer['bytes']:9d} {mine['bytes'] / max(1, peer['bytes']):6.2f}   (vs {peer['name']})")
        print(f"{'animated, gif2webp -lossy (480 px)':34} {'':10} {gif2webp['seconds']:8.2f} {'':6} {'':11} {gif2webp['bytes']:9d}")
        kept = [frames(p) for p in tb.output_files(out + "/i2")]
        print(f"imgcache's animated WebPs: frames {kept} (each source has 6)")


if __name__ == "__main__":
    main()
