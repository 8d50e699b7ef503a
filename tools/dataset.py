#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build the adainstyle training images from unpacked Debian packages.

Used by scripts/fetch-data.sh; needs only Pillow (plus the standard library).

Subcommands
-----------
rcc-ls RCC...
    List the files stored in Qt resource bundles (.rcc): flags, size, path.
build --endless-sky DIR --gcompris DIR --wesnoth DIR --wesnoth-campaigns DIR
      --gimp DIR --mate DIR --out DATA
    Collect photos into DATA/content, paintings into DATA/style, move a
    deterministic ~5% of each into DATA/heldout/{content,style} (the first
    three sources) or DATA/heldout-extra/ (the added ones), and write
    DATA/MANIFEST.tsv (where every file came from). DIR arguments are the
    roots that `dpkg-deb --fsys-tarfile PKG.deb | tar -x` (or `dpkg -x`) made.
sample-styles --gcompris DIR OUT_DIR
    Write the public-domain van Gogh samples shipped in styles/ (longest edge
    <= 512 px, JPEG quality 90).

The square crops of DATA that travel to a GPU machine (scripts/fetch-data.sh --pack) are made
by `adain-train pack`, with the trainer's own image preparation (alpha onto white, its resize
filter, every format it reads), so that the packed crops and the images a CPU run trains on
are prepared by one definition.

Sources (versions and licences: scripts/fetch-data.sh and DATA/MANIFEST.tsv):
  content  endless-sky-data   usr/share/games/endless-sky/images/land/*.jpg
           gcompris-qt-data   photos inside usr/share/gcompris-qt/rcc/*.rcc
  style    wesnoth-1.16-data  data/core/images/story/*.jpg, every 2nd portrait
           gcompris-qt-data   van Gogh paintings in details.rcc (public domain)
  added    wesnoth-1.16-<campaign>  campaigns/*/images/story/* (painted scenes)
           gimp-data, gimp-data-extras  patterns/**/*.pat (textures, tiled)
           mate-backgrounds   backgrounds/mate/nature/*.jpg (photos)

Note on the .rcc files: gcompris-qt 3.1 stores its images as WebP, not as
JPEG/PNG, so carving by JPEG/PNG magic bytes finds almost nothing. This tool
parses the Qt resource format instead (header "qres", a tree of 14/22-byte
entries, UTF-16 names, data blobs each preceded by a big-endian u32 length;
flag 1 = zlib-compressed with a 4-byte size prefix, flag 4 = zstd).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import re
import shutil
import struct
import sys
import zlib
from pathlib import Path

from PIL import Image, ImageStat

HOLDOUT_FRACTION = 0.05
JPEG_STORE_QUALITY = 95  # quality used when a source must be re-encoded (WebP, RGBA PNG)

# gcompris-qt bundles whose large RGB images are photographs (checked by eye:
# tools, monuments, animals, fish, landscapes, musicians). lang.rcc is cartoons.
GCOMPRIS_PHOTO_RCCS = (
    "categorization", "details", "erase", "explore_farm_animals",
    "explore_monuments", "explore_world_animals", "explore_world_music",
)
# details.rcc mixes monument photos with public-domain van Gogh paintings.
VAN_GOGH = re.compile(r"gogh|tanguy|auvers", re.IGNORECASE)
MIN_SIDE = 200

ES_LAND = "usr/share/games/endless-sky/images/land"
GC_RCC = "usr/share/gcompris-qt/rcc"
WN_CORE = "usr/share/games/wesnoth/1.16/data/core/images"

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".webp")

# Added sources (second data recipe). Their hold-out is drawn separately into heldout-extra/, so
# that heldout/ stays the fixed yardstick the decoder's figures are measured on.
WN_CAMPAIGNS = "usr/share/games/wesnoth/1.16/data/campaigns"
GIMP_PATTERNS = "usr/share/gimp/2.0/patterns"
MATE_NATURE = "usr/share/backgrounds/mate/nature"


# --------------------------------------------------------------------------- rcc
def read_rcc(path: Path):
    """Yield (resource path, flags, payload bytes) for every file in a Qt .rcc.

    Compressed entries are returned decompressed (zlib) or skipped (zstd,
    unless the `zstandard` module is importable)."""
    b = path.read_bytes()
    if b[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt resource file (no 'qres' magic)")
    version, tree, data, names = struct.unpack(">IIII", b[4:20])
    entry = 14 if version == 1 else 22

    def name_at(off: int) -> str:
        (n,) = struct.unpack(">H", b[names + off:names + off + 2])
        start = names + off + 6  # u16 length, u32 hash, UTF-16BE chars
        return b[start:start + 2 * n].decode("utf-16-be")

    stack = [(0, "")]
    while stack:
        idx, prefix = stack.pop()
        e = tree + idx * entry
        name_off, flags = struct.unpack(">IH", b[e:e + 6])
        name = name_at(name_off) if idx else ""
        if flags & 2:  # directory
            count, first = struct.unpack(">II", b[e + 6:e + 14])
            for child in range(first + count - 1, first - 1, -1):
                stack.append((child, f"{prefix}{name}/"))
            continue
        (data_off,) = struct.unpack(">I", b[e + 10:e + 14])
        (length,) = struct.unpack(">I", b[data + data_off:data + data_off + 4])
        blob = b[data + data_off + 4:data + data_off + 4 + length]
        if flags & 1:
            blob = zlib.decompress(blob[4:])
        elif flags & 4:
            try:
                import zstandard  # type: ignore
            except ImportError:
                continue
            blob = zstandard.ZstdDecompressor().decompress(blob)
        yield prefix + name, flags, blob


def cmd_rcc_ls(args) -> int:
    for p in args.rcc:
        for name, flags, blob in read_rcc(Path(p)):
            print(f"{flags}\t{len(blob)}\t{name}")
    return 0


# ------------------------------------------------------------------------- build
def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _jpeg_bytes(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def _flatten_portrait(im: Image.Image) -> Image.Image:
    """Crop an RGBA portrait to its visible part and put it on a flat backdrop
    of the figure's own mean colour, so the style statistics are not diluted
    by a foreign grey."""
    im = im.convert("RGBA")
    alpha = im.getchannel("A")
    box = alpha.point(lambda a: 255 if a > 16 else 0).getbbox()
    if box:
        im = im.crop(box)
        alpha = im.getchannel("A")
    # mean colour of the (mostly) opaque pixels of the figure
    mask = alpha.point(lambda a: 255 if a > 128 else 0)
    mean = (128, 128, 128)
    if mask.getbbox():
        mean = tuple(int(round(v)) for v in ImageStat.Stat(im.convert("RGB"), mask).mean)
    bg = Image.new("RGB", im.size, mean)
    bg.paste(im.convert("RGB"), (0, 0), alpha)
    return bg


class Collector:
    """Writes images into a staging tree and remembers their provenance."""

    def __init__(self, root: Path):
        self.root = root
        self.rows: list[tuple[str, str, str, str]] = []  # kind, name, package, source
        self.seen: set[str] = set()
        for kind in ("content", "style"):
            (root / kind).mkdir(parents=True, exist_ok=True)

    def add(self, kind: str, name: str, data: bytes, package: str, source: str) -> bool:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.seen:  # exact duplicate shipped in two places
            return False
        self.seen.add(digest)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
        (self.root / kind / name).write_bytes(data)
        self.rows.append((kind, name, package, source))
        return True


def collect_endless_sky(col: Collector, root: Path) -> int:
    n = 0
    land = root / ES_LAND
    for f in sorted(land.glob("*.jpg")):
        data = f.read_bytes()
        _open(data)  # validate
        n += col.add("content", f"es-{f.name}", data, "endless-sky-data", f"{ES_LAND}/{f.name}")
    return n


def collect_gcompris(col: Collector, root: Path) -> tuple[int, int]:
    photos = paintings = 0
    rcc_dir = root / GC_RCC
    for stem in GCOMPRIS_PHOTO_RCCS:
        rcc = rcc_dir / f"{stem}.rcc"
        if not rcc.exists():
            print(f"warning: {rcc} missing", file=sys.stderr)
            continue
        for path, _flags, blob in sorted(read_rcc(rcc)):
            if not path.lower().endswith(IMAGE_EXT):
                continue
            try:
                im = _open(blob)
            except Exception:
                continue
            base = Path(path).stem
            src = f"{GC_RCC}/{stem}.rcc:{path}"
            if stem == "details" and VAN_GOGH.search(base):
                if base.endswith("_background"):  # the whole painting, not a detail
                    name = "gc-vangogh-" + base.removesuffix("_background") + ".jpg"
                    paintings += col.add("style", name, _jpeg_bytes(im, JPEG_STORE_QUALITY),
                                         "gcompris-qt-data", src)
                continue
            if im.mode != "RGB" or min(im.size) < MIN_SIDE:
                continue  # cut-outs with alpha, icons, puzzle pieces
            data = blob if im.format == "JPEG" else _jpeg_bytes(im, JPEG_STORE_QUALITY)
            photos += col.add("content", f"gc-{stem}-{base}.jpg", data, "gcompris-qt-data", src)
    return photos, paintings


def collect_wesnoth(col: Collector, root: Path) -> tuple[int, int]:
    story = portraits = 0
    for f in sorted((root / WN_CORE / "story").glob("*.jpg")):
        data = f.read_bytes()
        _open(data)
        story += col.add("style", f"wn-story-{f.name}", data, "wesnoth-1.16-data",
                         f"{WN_CORE}/story/{f.name}")
    pdir = root / WN_CORE / "portraits"
    files = sorted(p.relative_to(pdir).as_posix() for p in pdir.rglob("*.png"))
    # Every second portrait: they all share one painterly style, so ~120 is plenty
    # next to the landscapes and the van Gogh paintings.
    for rel in files[::2]:
        im = _flatten_portrait(Image.open(pdir / rel))
        name = "wn-portrait-" + rel.removesuffix(".png").replace("/", "-") + ".jpg"
        portraits += col.add("style", name, _jpeg_bytes(im, JPEG_STORE_QUALITY),
                             "wesnoth-1.16-data", f"{WN_CORE}/portraits/{rel}")
    return story, portraits


def _gimp_pattern(data: bytes) -> Image.Image:
    """Decode a GIMP .pat pattern: a big-endian header (header size, version, width, height,
    bytes per pixel, magic "GPAT", name) followed by the raw pixels."""
    header, _version, w, h, bpp = struct.unpack(">5I", data[:20])
    if data[20:24] != b"GPAT" or bpp not in (1, 2, 3, 4):
        raise ValueError("not a GIMP pattern")
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[bpp]
    im = Image.frombytes(mode, (w, h), data[header:header + w * h * bpp])
    if mode in ("LA", "RGBA"):
        bg = Image.new("RGB", im.size, (128, 128, 128))
        bg.paste(im.convert("RGB"), (0, 0), im.getchannel("A"))
        return bg
    return im.convert("RGB")


def _tile(im: Image.Image, side: int) -> Image.Image:
    """Repeat a seamless tile until both sides are at least `side` pixels."""
    w, h = im.size
    out = Image.new("RGB", (max(side, w), max(side, h)))
    for y in range(0, out.size[1], h):
        for x in range(0, out.size[0], w):
            out.paste(im, (x, y))
    return out


def collect_wesnoth_campaigns(col: Collector, root: Path) -> int:
    """The painted story images of Wesnoth's campaign packages (landscapes, scenes); `root`
    holds one folder per package, named after it, with that package unpacked inside."""
    n = 0
    for pkg_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted((pkg_dir / WN_CAMPAIGNS).glob("*/images/story/*")):
            if f.suffix.lower() not in (".jpg", ".png"):
                continue
            im = Image.open(f)
            im.load()
            if min(im.size) < MIN_SIDE:
                continue
            campaign = f.parts[-4]
            data = f.read_bytes() if im.format == "JPEG" else _jpeg_bytes(im, JPEG_STORE_QUALITY)
            n += col.add("style", f"wn-{campaign}-{f.stem}.jpg", data, pkg_dir.name,
                         f"{WN_CAMPAIGNS}/{campaign}/images/story/{f.name}")
    return n


def collect_gimp_patterns(col: Collector, root: Path) -> int:
    """GIMP's seamless texture patterns, tiled to 512 px; `root` holds one folder per package
    (gimp-data, gimp-data-extras), named after it, with that package unpacked inside."""
    n = 0
    for pkg_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        base = pkg_dir / GIMP_PATTERNS
        for f in sorted(base.rglob("*.pat")):
            try:
                im = _gimp_pattern(f.read_bytes())
            except (ValueError, struct.error):
                continue
            if min(im.size) < 32:
                continue
            rel = f.relative_to(base).as_posix()
            name = "gimp-" + rel.removesuffix(".pat").replace("/", "-") + ".jpg"
            n += col.add("style", name, _jpeg_bytes(_tile(im, 512), JPEG_STORE_QUALITY),
                         pkg_dir.name, f"{GIMP_PATTERNS}/{rel}")
    return n


def collect_mate_photos(col: Collector, root: Path) -> int:
    """The nature photographs of mate-backgrounds."""
    n = 0
    for f in sorted((root / MATE_NATURE).glob("*.jpg")):
        im = _open(f.read_bytes())
        im.thumbnail((1600, 1600), Image.LANCZOS)
        n += col.add("content", f"mate-{f.name}", _jpeg_bytes(im, JPEG_STORE_QUALITY),
                     "mate-backgrounds", f"{MATE_NATURE}/{f.name}")
    return n


def heldout_names(names: list[str], fraction: float = HOLDOUT_FRACTION) -> set[str]:
    """Deterministic hold-out: the `fraction` of names with the smallest sha256."""
    k = max(1, round(len(names) * fraction))
    ranked = sorted(names, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    return set(ranked[:k])


def cmd_build(args) -> int:
    out = Path(args.out)
    stage = out / ".staging"
    if stage.exists():
        shutil.rmtree(stage)
    col = Collector(stage)
    es = collect_endless_sky(col, Path(args.endless_sky))
    gc_photos, gc_paint = collect_gcompris(col, Path(args.gcompris))
    wn_story, wn_portraits = collect_wesnoth(col, Path(args.wesnoth))
    print(f"collected: endless-sky {es}, gcompris photos {gc_photos}, "
          f"van Gogh {gc_paint}, wesnoth story {wn_story}, portraits {wn_portraits}")
    first_recipe = len(col.rows)
    wn_campaigns = collect_wesnoth_campaigns(col, Path(args.wesnoth_campaigns))
    patterns = collect_gimp_patterns(col, Path(args.gimp))
    mate = collect_mate_photos(col, Path(args.mate))
    print(f"added: wesnoth campaign paintings {wn_campaigns}, GIMP patterns {patterns}, "
          f"mate-backgrounds photos {mate}")

    split: dict[str, str] = {}
    # The first recipe's hold-out is drawn among its own images only, so it never changes.
    for group, heldout in ((col.rows[:first_recipe], "heldout"),
                           (col.rows[first_recipe:], "heldout-extra")):
        for kind in ("content", "style"):
            names = [r[1] for r in group if r[0] == kind]
            held = heldout_names(names) if names else set()
            (stage / heldout / kind).mkdir(parents=True, exist_ok=True)
            for n in names:
                if n in held:
                    (stage / kind / n).rename(stage / heldout / kind / n)
                    split[n] = f"{heldout}/{kind}"
                else:
                    split[n] = kind
    with open(stage / "MANIFEST.tsv", "w") as fh:
        fh.write("# dir\tfile\tdebian_package\tpath_in_package\n")
        for kind, name, pkg, src in sorted(col.rows, key=lambda r: (split[r[1]], r[1])):
            fh.write(f"{split[name]}\t{name}\t{pkg}\t{src}\n")

    # swap the finished tree into place
    for part in ("content", "style", "heldout", "heldout-extra", "MANIFEST.tsv"):
        dst = out / part
        if dst.is_dir():
            shutil.rmtree(dst)
        elif dst.exists():
            dst.unlink()
        (stage / part).rename(dst)
    shutil.rmtree(stage)
    return 0


# ------------------------------------------------------------------ styles/
# styles/ file name -> image in gcompris-qt-data's details.rcc (all public domain)
SAMPLE_STYLES = {
    "cafe-terrace-at-night.jpg": "Gogh4_background.webp",
    "night-cafe.jpg": "Van_Gogh_The_Night_Cafe_background.webp",
    "langlois-bridge.jpg": "VincentVanGoghBridge_background.webp",
    "painter-on-the-road.jpg": "VincentVanGogh0013_background.webp",
}


def cmd_sample_styles(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    blobs = {Path(p).name: b for p, _f, b in read_rcc(Path(args.gcompris) / GC_RCC / "details.rcc")}
    for name, src in SAMPLE_STYLES.items():
        im = _open(blobs[src]).convert("RGB")
        im.thumbnail((512, 512), Image.LANCZOS)
        data = _jpeg_bytes(im, 90)
        (out / name).write_bytes(data)
        print(f"{name}: {im.size[0]}x{im.size[1]}, {len(data) // 1024} KB <- details.rcc:{src}")
    return 0


# -------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("rcc-ls", help="list files inside Qt .rcc bundles")
    p.add_argument("rcc", nargs="+")
    p.set_defaults(func=cmd_rcc_ls)

    p = sub.add_parser("build", help="collect content/style images into DATA")
    p.add_argument("--endless-sky", required=True, help="unpacked endless-sky-data root")
    p.add_argument("--gcompris", required=True, help="unpacked gcompris-qt-data root")
    p.add_argument("--wesnoth", required=True, help="unpacked wesnoth-1.16-data root")
    p.add_argument("--wesnoth-campaigns", required=True,
                   help="folder with one sub-folder per wesnoth-1.16 campaign package, "
                        "named after it, the package unpacked inside")
    p.add_argument("--gimp", required=True,
                   help="folder with gimp-data/ and gimp-data-extras/, each package unpacked inside")
    p.add_argument("--mate", required=True, help="unpacked mate-backgrounds root")
    p.add_argument("--out", required=True, help="data directory to (re)build")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("sample-styles", help="write the sample style images of styles/")
    p.add_argument("--gcompris", required=True, help="unpacked gcompris-qt-data root")
    p.add_argument("out")
    p.set_defaults(func=cmd_sample_styles)

    args = ap.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
