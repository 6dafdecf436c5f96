#!/usr/bin/env bash
# How the GIF fixtures were made (Debian's ImageMagick 6.9 and gifsicle 1.93, Pillow 13 for
# the references), from images already in Tests/Fixtures. Run from this folder to remake them.
set -euo pipefail
corpus=../../corpus
# A still photo (from hopper.jpg, Pillow's test image), plain and interlaced.
convert "$corpus/jpeg/baseline/hopper.jpg" -resize 64x48 static.gif
convert "$corpus/jpeg/baseline/hopper.jpg" -resize 64x48 -interlace GIF interlaced.gif
# Transparency: a palette PNG with tRNS from libpng's test images.
convert "$corpus/png/palette-8-sRGB-tRNS.png" transparent.gif
# An animation whose first frame covers part of the screen, at an offset, with every
# disposal method among its frames (none, background, previous) and a loop count.
convert -size 20x16 xc:red r.gif
convert -size 30x10 xc:blue b.gif
convert -size 40x30 xc:lime g.gif
convert -dispose None -delay 10 -page 64x48+8+6 r.gif -dispose Background -delay 20 -page 64x48+20+20 b.gif \
        -dispose Previous -delay 30 -page 64x48+0+0 g.gif -loop 0 animated.gif
rm r.gif b.gif g.gif
# A frame-count bomb: 1,500 frames of 1x1 (over the default limit of 1,000).
convert -size 1x1 xc:red -duplicate 1499 frames-1500.gif
# A screen-size bomb: static.gif with its logical screen patched to 65535x65535.
python3 - <<'PY'
data = bytearray(open("static.gif", "rb").read())
data[6:10] = b"\xff\xff\xff\xff"
open("screen-65535.gif", "wb").write(data)
PY
# Truncated: the first half of static.gif, and animated.gif cut inside its second frame.
head -c $(( $(stat -c %s static.gif) / 2 )) static.gif > static-truncated.gif
# The references: Pillow's first frame, as RGBA, for the stills; for the animation, ImageMagick's
# coalesced first frame (a transparent screen, as browsers and gif2webp draw it: Pillow paints
# the background colour there).
for name in static interlaced transparent; do
    python3 -c "from PIL import Image; Image.open('$name.gif').convert('RGBA').save('$name.ref.png')"
done
convert animated.gif -coalesce png32:coalesced-%d.png
mv coalesced-0.png animated.ref.png
rm coalesced-*.png
# Each frame as browsers (and gif2webp's gifdec.c) show it, drawn from the frames' places: the
# screen starts transparent; "background" disposal clears the frame's rectangle to transparent
# (ImageMagick and Pillow paint the background colour instead, so they are not the reference).
convert -size 64x48 xc:none -fill red -draw "rectangle 8,6 27,21" png32:animated.frame0.png
convert animated.frame0.png -fill blue -draw "rectangle 20,20 49,29" png32:animated.frame1.png
convert animated.frame0.png -fill lime -draw "rectangle 0,0 39,29" png32:animated.frame2.png
# The same animation as an animated WebP (gif2webp, lossless): an animated WebP source whose
# composited frames are the GIF's.
gif2webp -quiet animated.gif -o animated.webp
# APNG (Pillow's writer): the GIF's composited frames as an APNG (Pillow keeps each frame's
# changed rectangle), and one whose frames use every dispose and blend operation. The first's
# composited frames are checked against Pillow's APNG reader; the second's against the APNG
# specification's arithmetic in the test (Pillow's reader gets "over" blending wrong: a blue
# at alpha 128 over opaque red comes out at alpha 191).
python3 - <<'PY'
from PIL import Image
frames = [Image.open(f"animated.frame{i}.png").convert("RGBA") for i in range(3)]
frames[0].save("animated.apng", format="PNG", save_all=True, append_images=frames[1:], duration=[100, 200, 300], loop=0)
size = (48, 32)
def square(colour, box):
    frame = Image.new("RGBA", size, (0, 0, 0, 0))
    frame.paste(Image.new("RGBA", (box[2] - box[0], box[3] - box[1]), colour), box[:2])
    return frame
ops = [square((255, 0, 0, 255), (0, 0, 48, 32)), square((0, 0, 255, 128), (8, 8, 40, 24)),
       square((0, 255, 0, 255), (16, 4, 32, 28)), square((255, 255, 0, 96), (0, 0, 24, 16))]
# dispose: none, previous, background, none; blend: source, over, source, over.
ops[0].save("ops.apng", format="PNG", save_all=True, append_images=ops[1:], duration=50, loop=2,
            disposal=[0, 2, 1, 0], blend=[0, 1, 0, 1])
for name in ["animated"]:
    image = Image.open(name + ".apng")
    for index in range(image.n_frames):
        image.seek(index)
        image.convert("RGBA").save(f"{name}.apng.frame{index}.png")
PY
