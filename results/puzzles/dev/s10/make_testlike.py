"""The test-like development photos of session 10 (mixed bags of sizes close to MIT's and McGill's): the 24 Kodak
photos centre-cropped to 672 x 504 (24 x 18 pieces of 28 px; portrait ones 504 x 672) and the 49 Wikipedia
photos of earlier sessions resized (Lanczos) and centre-cropped to 756 x 540 (27 x 19 pieces; portrait 540 x 756).
Usage: python make_testlike.py KODAK_DIR WIKI_DIR OUT (writes OUT/mtk and OUT/mtw)."""
import os
import sys
from glob import glob

from PIL import Image

kodak, wiki, out = sys.argv[1:4]
for sub in ("mtk", "mtw"):
    os.makedirs(os.path.join(out, sub), exist_ok=True)
for f in sorted(glob(os.path.join(kodak, "*"))):
    im = Image.open(f).convert("RGB")
    w, h = im.size
    tw, th = (672, 504) if w > h else (504, 672)
    left, top = (w - tw) // 2, (h - th) // 2
    im.crop((left, top, left + tw, top + th)).save(os.path.join(out, "mtk", os.path.basename(f).rsplit(".", 1)[0] + ".png"))
for f in sorted(glob(os.path.join(wiki, "*"))):
    im = Image.open(f).convert("RGB")
    w, h = im.size
    tw, th = (756, 540) if w >= h else (540, 756)
    s = max(tw / w, th / h)
    im = im.resize((round(w * s), round(h * s)), Image.LANCZOS)
    w, h = im.size
    left, top = (w - tw) // 2, (h - th) // 2
    im.crop((left, top, left + tw, top + th)).save(os.path.join(out, "mtw", os.path.basename(f).rsplit(".", 1)[0] + ".png"))
