#!/usr/bin/env bash
# The SVG fixtures are written by hand for this project (same licence as the project): the
# shapes, gradient and text ones as ordinary drawings, the hostile ones (xxe, laughs, deep,
# xinclude, huge, script) as the attacks they are named after; laughs.svg and deep.svg are
# generated below (ten levels of ten entity references; 1,000 nested groups). The references are
# librsvg's own rendering (rsvg-convert 2.54) at the sizes the tests ask for. Run from this folder.
set -euo pipefail
python3 - <<'PY'
lines = ['<?xml version="1.0"?>', '<!DOCTYPE svg [', '<!ENTITY lol0 "lol">']
for n in range(1, 10):
    lines.append('<!ENTITY lol%d "%s">' % (n, "&lol%d;" % (n - 1) * 10))
lines += [']>', '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&lol9;</text></svg>']
open("laughs.svg", "w").write("\n".join(lines) + "\n")
open("deep.svg", "w").write('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">' + "<g>" * 1000 + "</g>" * 1000 + "</svg>\n")
PY
rsvg-convert -w 64 -h 48 viewbox.svg -o viewbox.64.png
rsvg-convert -w 320 -h 240 viewbox.svg -o viewbox.320.png
rsvg-convert -w 80 -h 40 size.svg -o size.80.png
rsvg-convert -w 64 -h 64 gradient.svg -o gradient.64.png
