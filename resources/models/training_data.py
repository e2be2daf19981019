"""Select, convert and record maskviz's training photos; ``get_training_data.sh`` downloads, this decides.

    python resources/models/training_data.py collect DEST WORK    # WORK: what get_training_data.sh fetched
    python resources/models/training_data.py shard DEST SHARD [--side 224 --quality 85 | --budget-mib 30]

``collect`` walks every source (Debian packages unpacked in ``WORK/deb``, Python wheels in
``WORK/wheels``, the non-held-out bundled samples), and keeps an image only when, in this order:

1. its package states a free licence for it (:data:`FREE`, never :data:`NOT_FREE`): the file's
   paragraph of a machine-readable ``debian/copyright``, :data:`MANUAL` for the few packages whose
   copyright file is free text, the wheel's own statement;
2. it is readable, at most 10 % transparent (cut-outs are objects on nothing, not scenes) and at
   least :data:`MIN_SIDE` px on its longer side;
3. photo and texture sources only: it *looks like a photo* (:func:`photo_verdict`), since most
   packages mix photos with drawings, icons and renders;
4. its perceptual hash (:func:`dhash`) is not within :data:`HELD_OUT_BITS` of a held-out photo's
   (or its mirror image's), nor within :data:`DUPLICATE_BITS` of an image kept before it.

Kept images go to ``DEST/KIND/PACKAGE/NAME.jpg`` (<= :data:`MAX_SIDE` px), KIND being ``photo``
(scenes and objects), ``texture`` (photographed surfaces from game data) or ``art`` (abstract
wallpapers, flagged; never photos). ``DEST/SOURCES.tsv`` records each (package, version, path,
licence, copyright holder), ``DEST/SKIPPED.tsv`` every candidate left out and why, and
``DEST/REPORT.tsv`` each source's counts. Rerunnable: existing outputs are kept, outputs that a
previous run listed but this one does not are removed.

``shard`` writes the compact copy a GPU lease carries: photos and textures only, the shorter side
at most ``--side`` px, JPEG ``--quality`` (or, with ``--budget-mib``, the largest of
:data:`SHARD_LADDER` that fits).
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import re
import struct
import subprocess
import sys
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[2]
MAX_SIDE = 768
MIN_SIDE = 256  # smaller files are icons and sprites, not pictures to cut training crops from
FREE = re.compile(r"^(GPL|LGPL|CC-BY|CC-BY-SA|CC0|Expat|MIT|BSD|zlib|Apache|public.domain|NASA-not-copyrighted"
                  r"|no known copyright restrictions)", re.I)
NOT_FREE = re.compile(r"(^|-)(NC|ND)(-|$)|non-?commercial|no-?deriv", re.I)

# ------------------------------------------------------------------------------------------ what looks like a photo

#: A 256 px thumbnail of a colour photo has thousands of distinct colours (at 5 bits a channel);
#: drawings, icons and flat renders a few hundred. Calibrated on the bundled samples (photos: 727
#: to 3 042) and Scratch's backgrounds (photos 468-5 571, drawn GIFs 73-800, mostly palette files).
MIN_COLOURS = 400
#: Grey photos (every pixel R = G = B) are judged by their distinct grey levels of 256 instead.
MIN_GREYS = 96
#: Share of 8×8 blocks of the thumbnail that are flat (grey std < 1): drawings and renders have large
#: flat areas; photos have noise and texture almost everywhere (samples: 0-0.23, but the studio
#: shot of a clock on a plain backdrop 0.60; drawn Scratch backgrounds 0.3-0.7).
MAX_FLAT = 0.5


@dataclass(frozen=True)
class PhotoStats:
    palette: bool  # stored with a colour table: a drawing, or a photo dithered down to 256 colours
    grey: bool
    colours: int  # distinct colours at 5 bits a channel (grey: distinct grey levels) in the thumbnail
    flat: float


def photo_stats(img: Image.Image) -> PhotoStats:
    palette = img.mode == "P"
    rgb = img.convert("RGB")
    scale = 256 / max(rgb.size)
    if scale < 1:
        rgb = rgb.resize((max(8, round(rgb.width * scale)), max(8, round(rgb.height * scale))), Image.Resampling.BOX)
    a = np.asarray(rgb, dtype=np.int32)
    grey = bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())
    if grey:
        colours = len(np.unique(a[..., 0]))
    else:
        q = a >> 3
        colours = len(np.unique((q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]))
    g = np.asarray(rgb.convert("L"), dtype=np.float32)
    h, w = g.shape[0] // 8 * 8, g.shape[1] // 8 * 8
    flat = float((g[:h, :w].reshape(h // 8, 8, w // 8, 8).std(axis=(1, 3)) < 1.0).mean()) if h and w else 1.0
    return PhotoStats(palette, grey, colours, flat)


def photo_verdict(stats: PhotoStats) -> str | None:
    """Why an image does not look like a photo, or None when it does."""
    if stats.palette:
        return "palette image (at most 256 colours): a drawing or a dithered copy"
    if stats.grey and stats.colours < MIN_GREYS:
        return f"only {stats.colours} grey levels: a drawing or a posterised image"
    if not stats.grey and stats.colours < MIN_COLOURS:
        return f"only {stats.colours} colours: a drawing, icon or flat render"
    if stats.flat > MAX_FLAT:
        return f"{stats.flat:.0%} flat: large areas of one colour (a drawing or render)"
    return None


#: Texture names that mark a channel map, not a picture: FlightGear's ``*.mask.*`` files hold
#: material weights in red, green and blue on black (measured colour statistics pass them as photos).
MAP_NAME = re.compile(r"\.mask\.[^.]+$", re.IGNORECASE)


def texture_verdict(img: Image.Image, name: str = "") -> str | None:
    """Why a game texture (file ``name``) is not a photographed surface (the maps that ride along
    with one), or None."""
    if MAP_NAME.search(name):
        return "a channel mask by its name (material weights, not colours)"
    a = np.asarray(img.convert("RGB").resize((64, 64), Image.Resampling.BOX), dtype=np.float32)
    r, g, b = a[..., 0].mean(), a[..., 1].mean(), a[..., 2].mean()
    if b > 170 and abs(r - 128) < 50 and abs(g - 128) < 50:
        return "a normal map (blue-violet: surface directions, not colours)"
    if np.percentile(a.mean(axis=2), 99) < 48:
        return "almost black: a gloss, specular or occlusion map"
    if np.abs(a - a.mean(axis=2, keepdims=True)).max() < 6:
        return "grey: a height, bump or specular map"
    return None


# ------------------------------------------------------------------------------------------ near-duplicates

#: Two images whose 64-bit dHashes differ in at most this many bits are the same picture. Measured on
#: 150 collected photos: a JPEG at quality 60, half size, 20 % brighter, 20 % less contrast or a
#: 10 % squeeze moves the hash by at most 14 bits and by <= 7.5 bits in 95 % of cases (a 2.5 % crop:
#: mean 7); of 79 800 pairs of different images 99 % differ in more than 19 bits.
DUPLICATE_BITS = 10
#: Against the held-out photos (and their mirror images) a little more caution: a false alarm
#: costs one training image, a miss would leak a test photo into training.
HELD_OUT_BITS = 12


def dhash(img: Image.Image) -> int:
    """64-bit difference hash: is each pixel of a 9×8 grey thumbnail brighter than its left neighbour?"""
    g = np.asarray(img.convert("L").resize((9, 8), Image.Resampling.BOX), dtype=np.int16)
    value = 0
    for bit in (g[:, 1:] > g[:, :-1]).ravel():
        value = (value << 1) | int(bit)
    return value


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


# ------------------------------------------------------------------------------------------ licences


def dep5(path: Path) -> list[dict[str, str]] | None:
    """Paragraphs of a machine-readable debian/copyright, or None for free-form text."""
    text = path.read_text(errors="replace")
    if not text.lstrip().startswith("Format:"):
        return None
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
        if "Files" in fields:
            paragraphs.append(fields)
    return paragraphs


def matches(pattern: str, installed: str) -> bool:
    """A source-tree pattern against an installed path: same tail, or same file name."""
    if pattern.startswith("debian/"):
        return False
    if pattern == "*" or fnmatch.fnmatch(installed, "*/" + pattern):
        return True
    base = pattern.rsplit("/", 1)[-1]
    return "/" in pattern and base.strip("*") != "" and fnmatch.fnmatch(installed.rsplit("/", 1)[-1], base)


def licence_of(paragraphs: list[dict[str, str]], installed: str, source: str | None = None) -> tuple[str, str] | None:
    """(licence, copyright holder) of the last paragraph whose Files match the file: its path in the
    source tree when known (``source``: dep5 semantics), else its installed path (by tail or name).
    Images that a build converted (GCompris ships its .jpg as .webp) also match under their source
    suffix."""
    path = source or installed
    stem, dot, _ = path.rpartition(".")
    names = [path] + ([f"{stem}.{s}" for s in ("jpg", "jpeg", "png", "svg")] if dot else [])
    found = None
    for para in paragraphs:
        patterns = para["Files"].split()
        hit = (fnmatch.fnmatchcase(n, p) for p in patterns for n in names) if source else (
            matches(p, n) for p in patterns for n in names)
        if any(hit):
            found = (first_line(para.get("License", "")), first_line(para.get("Copyright", "")))
    return found


def first_line(field: str) -> str:
    """A field's first non-empty line: the licence's short name (some files leave the first line
    empty and name it on the next)."""
    return next((line.strip() for line in field.splitlines() if line.strip()), "")


def plasma_licence(folder: Path) -> str:
    """The licence a Plasma wallpaper declares in its metadata.json (or older metadata.desktop)."""
    if (folder / "metadata.json").exists():
        return json.loads((folder / "metadata.json").read_text())["KPlugin"].get("License", "")
    if (folder / "metadata.desktop").exists():
        found = re.search(r"^X-KDE-PluginInfo-License=(.*)$", (folder / "metadata.desktop").read_text(), re.M)
        return found.group(1).strip() if found else ""
    return ""


# ------------------------------------------------------------------------------------------ containers


def rcc_files(blob: bytes) -> Iterator[tuple[str, bytes | None]]:
    """(path, contents) of every file in a Qt resource file (``rcc``, format versions 1-3); None for
    zstd-compressed entries (Pillow reads none of them: images are stored plain)."""
    if blob[:4] != b"qres":
        raise ValueError("not a Qt resource file")
    version, tree, data, names = struct.unpack(">4I", blob[4:20])
    node = 14 if version == 1 else 22

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset:names + offset + 2])
        return blob[names + offset + 6:names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> Iterator[tuple[str, bytes | None]]:
        base = tree + index * node
        name_offset, flags = struct.unpack(">IH", blob[base:base + 6])
        path = f"{prefix}/{name(name_offset)}" if index else ""
        if flags & 2:  # a directory
            count, first = struct.unpack(">II", blob[base + 6:base + 14])
            for child in range(first, first + count):
                yield from walk(child, path)
            return
        (offset,) = struct.unpack(">I", blob[base + 10:base + 14])
        (size,) = struct.unpack(">I", blob[data + offset:data + offset + 4])
        payload = blob[data + offset + 4:data + offset + 4 + size]
        if flags & 1:  # qCompress: a 4-byte length, then zlib
            yield path, zlib.decompress(payload[4:])
        else:
            yield path, None if flags & 4 else payload

    yield from walk(0, "")


def edj_image(path: Path) -> Image.Image:
    """The wallpaper JPEG stored inside an Edje file: the smallest copy at least MAX_SIDE wide.

    Edje keeps lossy images as plain JPEG streams, one per resolution, so scanning for JPEG
    headers finds them without the EFL tools.
    """
    data = path.read_bytes()
    found = []
    for m in re.finditer(b"\xff\xd8\xff", data):
        try:
            found.append((Image.open(io.BytesIO(data[m.start():])).size, m.start()))
        except Exception:  # noqa: BLE001 - a marker inside other data, not an image
            continue
    if not found:
        raise ValueError("no JPEG image inside")
    big = [f for f in found if max(f[0]) >= MAX_SIDE]
    _, offset = min(big, key=lambda f: max(f[0])) if big else max(found, key=lambda f: max(f[0]))
    return Image.open(io.BytesIO(data[offset:]))


# ------------------------------------------------------------------------------------------ sources

#: Debian packages and what of each is a candidate: (glob under the unpacked package, kind). Kind
#: "listed" means: photos are the names in PHOTOS, the rest is abstract art; "picked": photos are the
#: names in PHOTOS, the rest is left out. Other photo and texture candidates must pass photo_verdict().
DEB_SOURCES: dict[str, list[tuple[str, str]]] = {
    "mate-backgrounds": [("usr/share/backgrounds/**/*", "listed")],
    "ukui-wallpapers": [("usr/share/**/*", "listed")],
    "lomiri-wallpapers": [("usr/share/**/*", "listed")],
    "lomiri-wallpapers-16.04": [("usr/share/**/*", "listed")],
    "lomiri-wallpapers-20.04": [("usr/share/**/*", "listed")],
    "gnome-backgrounds": [("usr/share/backgrounds/**/*", "listed")],
    "plasma-workspace-wallpapers": [("plasma", "listed")],
    "enlightenment-data": [("edj", "listed")],
    "xplanet-images": [("usr/share/xplanet/images/*", "listed")],
    "tuxpaint-data": [("usr/share/tuxpaint/templates/*", "photo")],
    # Added for issue 21: photo collections of educational software, games, test data and documentation.
    "scratch": [("usr/share/scratch/Media/Backgrounds/*/*", "photo")],
    "gcompris-qt-data": [("rcc:usr/share/gcompris-qt/rcc/*.rcc", "photo")],  # drawings among them: photo_verdict
    "endless-sky-data": [("usr/share/games/endless-sky/images/land/*", "photo")],  # images/scene: renders too
    "kphotoalbum": [("usr/share/kphotoalbum/demo/*", "photo")],
    "palapeli-data": [("usr/share/palapeli/collection/*", "photo"), ("usr/share/palapeli/backgrounds/*", "texture")],
    "libjxl-testdata": [("usr/share/libjxl-testdata/external/wesaturate/500px/*", "photo"),
                        ("usr/share/libjxl-testdata/external/raw.pixls/*", "photo"),
                        ("usr/share/libjxl-testdata/jxl/flower/flower.png", "photo")],
    "tuxmath-data": [("usr/share/tuxmath/images/backgrounds/*", "photo")],
    "lxqt-themes": [("usr/share/lxqt/wallpapers/*", "photo")],
    # Photographed ground: aerial photos of land, and close-ups of grass, sand, rock and paving.
    "flightgear-data-base": [("usr/share/games/flightgear/Textures/Terrain/*", "texture"),
                             ("usr/share/games/flightgear/Textures/Terrain.winter/*", "texture")],
    "0ad-data": [("zip:usr/share/games/0ad/mods/public/public.zip:art/textures/terrain/types/", "texture")],
    # Added in a second search: a wallpaper set new in Debian 13, a music visualiser's pictures (symbols and
    # logos among them: only the photos in PHOTOS), a login theme's photo, a jigsaw game's sample photos.
    "budgie-backgrounds": [("usr/share/backgrounds/budgie/*", "photo")],
    "lebiniou-data": [("usr/share/lebiniou/images/*/*", "picked")],
    "sddm-theme-maldives": [("usr/share/sddm/themes/maldives/background.jpg", "photo")],
    "puzzle-jigsaw": [("usr/share/puzzle-jigsaw/samples/*", "photo")],
}
#: Packages taken from another Debian release than the machine's (get_training_data.sh downloads them from
#: that suite on the machine's own Debian mirror, with package lists of its own; nothing is installed).
DEB_SUITES = {"budgie-backgrounds": "trixie"}
#: Where a package installs files of its source tree (installed prefix -> source prefix), so that
#: debian/copyright's Files patterns match them exactly instead of by their tails.
SOURCE_PREFIXES = {
    "gcompris-qt-data": (("/gcompris/", ""),),
    "endless-sky-data": (("/usr/share/games/endless-sky/", ""),),
    "libjxl-testdata": (("/usr/share/libjxl-testdata/", ""),),
    "tuxmath-data": (("/usr/share/tuxmath/", "data/"),),
    "lebiniou-data": (("/usr/share/lebiniou/", ""),),
    "sddm-theme-maldives": (("/usr/share/sddm/themes/", "data/themes/"),),
    "puzzle-jigsaw": (("/usr/share/puzzle-jigsaw/", ""),),
}
#: The held-out photos' package (heldout_photos.py): never a training source.
HELD_OUT_PACKAGES = ("jigzo-data",)
#: Python wheels whose data files are candidates (all photos, checked one by one below).
WHEELS = ("scikit_learn", "scipy", "matplotlib")

# Photographs among the "listed" packages' files; their other images are abstract art.
PHOTOS = {
    "mate-backgrounds": {"Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops",
                         "Storm", "TwoWings", "Wood", "YellowFlower"},
    "lomiri-wallpapers-16.04": {"Bridge_by_Sander_Klootwijk", "Dragonfly_by_Bolly", "Picture_0B_by_freespace",
                                "Picture_1A_by_freespace", "Wine_by_Jakkub_Mede", "aitzgorri_by_Aitzol_Berasategi",
                                "free_by_Peter_Nerlich", "friends_by_Aitzol_Berasategi",
                                "greentock_by_Peter_Nerlich", "life_by_Aitzol_Berasategi",
                                "picosdeeuropa_by_Aitzol_Berasategi", "seeding_by_Clements_Engelhardt",
                                "sunset_by_Aitzol_Berasategi"},
    "lomiri-wallpapers-20.04": {"Kleiber_by_Lukas_Baubkus"},
    "plasma-workspace-wallpapers": {"BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                                    "FallenLeaf", "Grey", "Kite", "MilkyWay", "OneStandsOut", "Path", "summer_1am"},
    "enlightenment-data": {"Bamboo", "Foggy-Trees", "God-Rays", "Green-Maple", "Lichen-Branches", "Mountain", "Peaks",
                           "Red-Maple", "Sea-of-Lanterns", "Snow-Trees", "Spruce-Needles", "Sunset-Clouds",
                           "Sunset-Hills", "White-Flower", "Yellow-Flower"},
    "xplanet-images": {"earth"},
    # Grey, often retouched photos; the package's other pictures are symbols, logos, lettering and renders.
    "lebiniou-data": {"HEAD", "Le_Bugue", "wall179", "aquarium", "cat_watching_tv", "globe_and_holding_smartphone",
                      "lebiniou_clouds_beach", "lebiniou_constellation", "lebiniou_punishment", "lebiniou_sand",
                      "motherboard", "tv_in_leaves", "village_moonlight", "watching_blank_screen", "z-cat1",
                      "z-cemetery", "z-djskeud", "z-gears", "z-lightning", "z-lightningbolts", "z-look!", "z-machine9",
                      "z-moon", "z-moon2", "z-robots27"},
}
#: Candidates of a photo source that are known not to be photos: (package, glob of the path) -> reason.
NOT_PHOTOS = {
    ("gcompris-qt-data", "*/activities/paintings/*"): "a painting",
    ("gcompris-qt-data", "*/activities/details/*"): "a painting",
    ("gcompris-qt-data", "*/activities/babyshapes/*"): "a painting with shapes cut out",
}
SKIP = {
    ("mate-backgrounds", "Elephants_3840x2160"): "same picture as Elephants.jpg, larger",
    ("mate-backgrounds", "Elephants_5640x3172"): "same picture as Elephants.jpg, larger",
    ("mate-backgrounds", "MATE-Stripes-Dark"): "flat stripes",
    ("mate-backgrounds", "MATE-Stripes-Light"): "flat stripes",
    ("mate-backgrounds", "Stripes"): "flat stripes",
    ("mate-backgrounds", "GreenTraditional"): "logo on a flat background",
    ("mate-backgrounds", "Float-into-MATE"): "logo on a gradient",
    ("enlightenment-data", "Paper-Flower"): "layered: its first image is only the paper",
    ("enlightenment-data", "Flat-Stone-Pattern"): "nearly uniform dark texture",
    ("xplanet-images", "night"): "almost entirely black",
    ("xplanet-images", "sun"): "flat colour",
}
# Packages whose copyright file is not machine-readable: licences copied from it by hand.
MANUAL = {
    ("gnome-backgrounds", "adwaita-*"): ("CC-BY-SA-3.0", "2011 Jakub Steiner"),
    ("kphotoalbum", "*"): ("GPL-2+", "the KPhotoAlbum authors (debian/copyright: the whole package is GPL-2+)"),
}
UNPICKED = "unpicked"  # kind of a "picked" source's candidate that is not in PHOTOS: skipped
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
ZIP_SUFFIXES = (".dds", ".png", ".jpg")
SKIP_DIRS = {"doc", "icons", "pixmaps", "help", "starters", "brushes", "stamps", "fonts"}


@dataclass
class Candidate:
    source: str  # Debian package, wheel or "maskviz-samples"
    original: str  # path inside the package
    name: str
    kind: str  # photo, texture, art
    load: Callable[[], Image.Image]
    licence: str = ""
    holder: str = ""
    note: str = ""
    listed: bool = False  # a photo by name in PHOTOS: chosen by eye, so not judged by photo_verdict()


class Sources:
    """Every candidate image in ``work`` (what get_training_data.sh fetched)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.versions: dict[str, str] = {}

    def version(self, pkg: str) -> str:
        if pkg not in self.versions:
            debs = sorted((self.work / "debs").glob(f"{pkg}_*.deb"))
            self.versions[pkg] = subprocess.run(["dpkg-deb", "-f", str(debs[-1]), "Version"], capture_output=True,
                                                text=True, check=True).stdout.strip() if debs else ""
        return self.versions[pkg]

    def all(self) -> Iterator[Candidate]:
        yield from self.debian()
        yield from self.python()
        yield from samples()

    # -- Debian

    def debian(self) -> Iterator[Candidate]:
        for pkg, specs in DEB_SOURCES.items():
            if pkg in HELD_OUT_PACKAGES:
                raise SystemExit(f"{pkg} holds held-out photos: it cannot be a training source")
            root = self.work / "deb" / pkg
            if not root.is_dir():
                continue
            copyright_file = root / "usr/share/doc" / pkg / "copyright"
            paragraphs = dep5(copyright_file) if copyright_file.exists() else None
            for spec, kind in specs:
                for c in self.files(pkg, root, spec):
                    if kind in ("listed", "picked"):
                        c.listed = c.name in PHOTOS.get(pkg, ())
                        c.kind = "photo" if c.listed else "art" if kind == "listed" else UNPICKED
                    else:
                        c.kind = kind
                    c.licence, c.holder = self.deb_licence(pkg, paragraphs, c)
                    yield c

    def files(self, pkg: str, root: Path, spec: str) -> Iterator[Candidate]:
        if spec == "plasma":
            yield from plasma_candidates(pkg, root)
        elif spec == "edj":
            for edj in sorted((root / "usr/share/enlightenment/data/backgrounds").glob("*.edj")):
                yield Candidate(pkg, "/" + str(edj.relative_to(root)), edj.stem, "", lambda p=edj: edj_image(p))
        elif spec.startswith("rcc:"):  # Qt resource files: rcc:GLOB
            for rcc in sorted(root.glob(spec[4:])):
                for inner, blob in rcc_files(rcc.read_bytes()):
                    if blob and inner.lower().endswith(SUFFIXES):
                        stem = inner.rsplit("/", 1)[-1].rsplit(".", 1)[0]
                        yield Candidate(pkg, inner, f"{rcc.stem}-{stem}", "", lambda b=blob: Image.open(io.BytesIO(b)))
        elif spec.startswith("zip:"):  # members of a zip archive: zip:ARCHIVE:PREFIX (alpha is not opacity here)
            archive, prefix = spec[4:].split(":")
            with zipfile.ZipFile(root / archive) as z:
                members = sorted(n for n in z.namelist() if n.startswith(prefix) and n.lower().endswith(ZIP_SUFFIXES))
            for member in members:
                name = member.rsplit("/", 1)[-1].split(".", 1)[0]
                yield Candidate(pkg, member, name, "", lambda m=member: zip_rgb(root / archive, m))
        else:
            fixed = root / spec.split("*", 1)[0].rsplit("/", 1)[0]  # a "**" tree: not its docs and icons
            for f in sorted(root.glob(spec)):
                if f.suffix.lower() in SUFFIXES and f.is_file() and not (
                        "**" in spec and set(f.relative_to(fixed).parts) & SKIP_DIRS):
                    yield Candidate(pkg, "/" + str(f.relative_to(root)), f.stem, "", lambda p=f: Image.open(p))

    def deb_licence(self, pkg: str, paragraphs: list | None, c: Candidate) -> tuple[str, str]:
        for (p, pattern), value in MANUAL.items():
            if p == pkg and fnmatch.fnmatch(c.name, pattern):
                c.note = "debian/copyright (free text, read by hand)"
                return value
        c.note = "debian/copyright"
        if pkg == "plasma-workspace-wallpapers":
            meta = plasma_licence(self.work / "deb" / pkg / c.original.lstrip("/").split("/contents/")[0])
            c.note = f"debian/copyright; metadata.json says {meta}" if meta else c.note
        found = licence_of(paragraphs, c.original, source_path(pkg, c.original)) if paragraphs else None
        return found or ("", "")

    # -- Python wheels

    def wheel(self, prefix: str) -> Path:
        return sorted((self.work / "wheels").glob(f"{prefix}-*.whl"))[-1]

    def python(self) -> Iterator[Candidate]:
        sk = self.wheel("scikit_learn")
        readme = zip_text(sk, "sklearn/datasets/images/README.txt")
        for name, holder in (("china", "danielbuechele (Flickr)"), ("flower", "vultilion (Flickr)")):
            lic = "CC-BY-2.0" if "creativecommons.org/licenses/by/2.0" in readme else ""
            member = f"sklearn/datasets/images/{name}.jpg"
            yield Candidate("scikit-learn", member, name, "photo",
                            lambda m=member: Image.open(io.BytesIO(zip_bytes(sk, m))), lic, holder,
                            "licence from sklearn/datasets/images/README.txt")
        sp = self.wheel("scipy")
        pd = "public domain" if zip_text(sp, "scipy/misc/_common.py").count("public-domain-image.com") >= 2 else ""
        yield Candidate("scipy", "scipy/misc/face.dat", "face", "photo", lambda: scipy_face(sp), pd,
                        "public-domain-image.com",
                        "docstring of scipy.misc.face: raccoon-procyon-lotor.jpg at public-domain-image.com")
        yield Candidate("scipy", "scipy/misc/ascent.dat", "ascent", "photo", lambda: scipy_ascent(sp), pd,
                        "public-domain-image.com",
                        "docstring of scipy.misc.ascent: accent-to-the-top.jpg at public-domain-image.com")
        mpl = self.wheel("matplotlib")
        member = "matplotlib/mpl-data/sample_data/grace_hopper.jpg"
        yield Candidate("matplotlib", member, "grace_hopper", "photo",
                        lambda: Image.open(io.BytesIO(zip_bytes(mpl, member))), "public domain",
                        "U.S. Navy (official photograph of Grace M. Hopper)",
                        "matplotlib states no licence for it; a U.S. federal government work")

    def wheel_version(self, source: str) -> str:
        return self.wheel({"scikit-learn": "scikit_learn"}.get(source, source)).name.split("-")[1]


def source_path(pkg: str, installed: str) -> str | None:
    """The file's path in its package's source tree, where :data:`SOURCE_PREFIXES` knows it."""
    for prefix, source in SOURCE_PREFIXES.get(pkg, ()):
        if installed.startswith(prefix):
            return source + installed[len(prefix):]
    return None


def plasma_candidates(pkg: str, root: Path) -> Iterator[Candidate]:
    """One image per wallpaper: its largest landscape picture (the others are the same, resized)."""
    for folder in sorted((root / "usr/share/wallpapers").iterdir()):
        sizes = []
        for f in (folder / "contents/images").glob("*"):
            w, h = (int(v) for v in f.stem.split("x"))
            if w >= h:
                sizes.append((w * h, f))
        if sizes:
            f = max(sizes)[1]
            yield Candidate(pkg, "/" + str(f.relative_to(root)), folder.name, "", lambda p=f: Image.open(p))


def zip_bytes(path: Path, member: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(member)


def zip_rgb(path: Path, member: str) -> Image.Image:
    """A game texture from an archive, without its alpha channel (a height or gloss map, not opacity)."""
    return Image.open(io.BytesIO(zip_bytes(path, member))).convert("RGB")


def zip_text(path: Path, member: str) -> str:
    return zip_bytes(path, member).decode("utf-8", errors="replace")


def scipy_face(whl: Path) -> Image.Image:
    import bz2

    raw = bz2.decompress(zip_bytes(whl, "scipy/misc/face.dat"))
    return Image.frombytes("RGB", (1024, 768), raw)


def scipy_ascent(whl: Path) -> Image.Image:
    """ascent.dat is a pickled 512×512 list of ints; read it without unpickling arbitrary objects."""
    import pickle

    class OnlyPlainData(pickle.Unpickler):
        def find_class(self, module, name):  # noqa: ANN001, ANN201 - pickle API
            raise pickle.UnpicklingError(f"refusing {module}.{name}")

    rows = OnlyPlainData(io.BytesIO(zip_bytes(whl, "scipy/misc/ascent.dat"))).load()
    return Image.frombytes("L", (512, 512), bytes(v for row in rows for v in row))


def held_out_names() -> tuple[str, ...]:
    sys.path.insert(0, str(REPO))
    from maskviz.bundled import HELD_OUT_SAMPLES  # the one list of held-out samples

    return HELD_OUT_SAMPLES


def samples() -> Iterator[Candidate]:
    """The bundled samples that are not held out, with the licences from their ATTRIBUTION.md."""
    folder = REPO / "resources/samples"
    rows = {}
    for line in (folder / "ATTRIBUTION.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and "." in cells[0] and cells[0] != "file":
            rows[cells[0]] = cells
    held_out = held_out_names()
    for f in sorted(folder.iterdir()):
        if f.name in rows and f.stem not in held_out:
            _, skname, source, statement = rows[f.name]
            yield Candidate("maskviz-samples", f"resources/samples/{f.name}", f.stem, "photo",
                            lambda p=f: Image.open(p), licence_id(statement), source,
                            f"scikit-image data {skname.strip('`')}: {statement}")


def licence_id(statement: str) -> str:
    """A short name for scikit-image's free-text licence statements (kept in full beside it)."""
    text = statement.lower()
    if "cc0" in text:
        return "CC0-1.0"
    if "public domain" in text:
        return "public domain"
    return "no known copyright restrictions" if "no known copyright restrictions" in text else statement


# ------------------------------------------------------------------------------------------ selection


def to_rgb(img: Image.Image) -> Image.Image:
    img.draft("RGB", (MAX_SIDE, MAX_SIDE))  # JPEG: decode at a reduced scale when that is enough
    img = ImageOps.exif_transpose(img) or img
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return img.convert("RGB")


def transparent_fraction(img: Image.Image) -> float:
    """Share of (mostly) see-through pixels; 0 for images without alpha."""
    if img.mode not in ("RGBA", "LA", "PA") and "transparency" not in img.info:
        return 0.0
    alpha = img.convert("RGBA").getchannel("A").resize((64, 64), Image.Resampling.BOX)
    return sum(1 for a in alpha.tobytes() if a < 128) / (64 * 64)


def shrink(img: Image.Image, side: int = MAX_SIDE, shorter: bool = False) -> Image.Image:
    """At most ``side`` px on the longer side (``shorter``: on the shorter side)."""
    scale = side / (min(img.size) if shorter else max(img.size))
    if scale >= 1:
        return img
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                      Image.Resampling.LANCZOS, reducing_gap=3.0)


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "image"


@dataclass
class Selection:
    """The selection's state: what is kept, what was skipped and why, and the hashes to compare with."""

    dest: Path
    held_out: dict[str, list[int]]  # name -> hashes (the photo and its mirror image)
    kept: list[tuple] = None  # type: ignore[assignment]
    skipped: list[tuple[str, str, str]] = None  # type: ignore[assignment]
    hashes: list[tuple[str, int]] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.kept, self.skipped, self.hashes = [], [], []

    def skip(self, c: Candidate, reason: str) -> None:
        self.skipped.append((c.source, c.original, reason))

    def consider(self, c: Candidate, version: str) -> None:
        if NOT_FREE.search(c.licence) or not FREE.search(c.licence):
            return self.skip(c, f"licence not accepted: {c.licence or 'none stated for this file'}")
        try:
            raw = c.load()
            clear = transparent_fraction(raw)
            img = shrink(to_rgb(raw))
            stats = photo_stats(raw) if c.kind != "art" and not c.listed else None
        except Exception as e:  # noqa: BLE001 - an unreadable candidate is reported, not fatal
            return self.skip(c, f"unreadable: {e}")
        if clear > 0.1:
            return self.skip(c, f"{clear:.0%} transparent: a cut-out or an overlay")
        if max(img.size) < MIN_SIDE:
            return self.skip(c, f"too small ({img.width}x{img.height}): an icon or sprite")
        verdict = photo_verdict(stats) if stats else None
        if not verdict and c.kind == "texture":
            verdict = texture_verdict(img, c.original)
        if verdict:
            return self.skip(c, f"not a photo: {verdict}")
        h = dhash(img)
        clash = next((n for n, hs in self.held_out.items() if min(hamming(h, x) for x in hs) <= HELD_OUT_BITS), None)
        if clash:
            return self.skip(c, f"looks like held-out photo {clash}")
        dup = next((rel for rel, other in self.hashes if hamming(h, other) <= DUPLICATE_BITS), None)
        if dup:
            return self.skip(c, f"near-duplicate of {dup}")
        rel = f"{c.kind}/{c.source}/{safe_name(c.name)}.jpg"
        while any(rel == r for r, _ in self.hashes):  # same name from two folders of one package
            rel = rel[:-4] + "_.jpg"
        out = self.dest / rel
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name("." + out.name + ".tmp")
            img.save(tmp, "JPEG", quality=92, optimize=True)
            tmp.replace(out)
        self.hashes.append((rel, h))
        self.kept.append((rel, c.kind, c.source, version, c.original, c.licence, c.holder, c.note,
                          f"{img.width}x{img.height}"))


def held_out_hashes(work: Path) -> dict[str, list[int]]:
    """The six held-out samples and heldout_photos.py's jigzo-data photos, each also mirrored."""
    paths = {n: next((REPO / "resources/samples").glob(n + ".*")) for n in held_out_names()}
    paths.update({f"jigzo-data/{p.stem}": p for p in sorted((work / "heldout").glob("*.png"))})
    found = {}
    for name, path in paths.items():
        img = to_rgb(Image.open(path))
        found[name] = [dhash(img), dhash(ImageOps.mirror(img))]
    return found


def left_out_by_eye(c: Candidate) -> str | None:
    """Why a candidate is left out by a decision taken by looking (PHOTOS, SKIP, NOT_PHOTOS), or None."""
    if c.kind == UNPICKED:
        return "not among the photos picked by eye (PHOTOS)"
    return SKIP.get((c.source, c.name)) or next(
        (r for (pkg, pattern), r in NOT_PHOTOS.items() if pkg == c.source and fnmatch.fnmatch(c.original, pattern)),
        None)


def collect(dest: Path, work: Path) -> Selection:
    sources = Sources(work)
    sel = Selection(dest, held_out_hashes(work))
    for c in sources.all():
        reason = left_out_by_eye(c)
        if reason:
            sel.skip(c, reason)
            continue
        version = "" if c.source == "maskviz-samples" else (
            sources.wheel_version(c.source) if c.original.startswith(("sklearn/", "scipy/", "matplotlib/"))
            else sources.version(c.source))
        sel.consider(c, version)
    write_tables(sel)
    return sel


def write_tables(sel: Selection) -> None:
    """SOURCES.tsv / SKIPPED.tsv / REPORT.tsv, and removal of outputs an earlier run made but this one did not."""
    dest = sel.dest
    dest.mkdir(parents=True, exist_ok=True)
    sources = dest / "SOURCES.tsv"
    previous = set()
    if sources.exists():
        previous = {line.split("\t", 1)[0] for line in sources.read_text().splitlines()[1:] if line}
    current = {row[0] for row in sel.kept}
    for rel in sorted(previous - current):
        (dest / rel).unlink(missing_ok=True)
    header = "file\tkind\tpackage\tversion\toriginal_path\tlicence\tcopyright\tlicence_source\tsize"
    lines = [header] + ["\t".join(str(c).replace("\t", " ") for c in row) for row in sorted(sel.kept)]
    sources.write_text("\n".join(lines) + "\n")
    skip_lines = ["package\toriginal_path\treason"] + ["\t".join(r) for r in sorted(sel.skipped)]
    (dest / "SKIPPED.tsv").write_text("\n".join(skip_lines) + "\n")
    (dest / "REPORT.tsv").write_text(report_table(sel))


def reason_class(reason: str) -> str:
    """A skip reason without its numbers: 'not a photo: only 312 colours: ...' -> 'not a photo'."""
    for key in ("licence not accepted", "unreadable", "transparent", "too small", "not a photo",
                "looks like held-out", "near-duplicate", "not among the photos picked"):
        if key in reason:
            return key
    return "listed in SKIP or NOT_PHOTOS"


def report_table(sel: Selection) -> str:
    """Per source: candidates found, kept by kind, and skipped by reason."""
    found, kept, skipped = Counter(), Counter(), Counter()
    for row in sel.kept:
        found[row[2]] += 1
        kept[(row[2], row[1])] += 1
    for source, _, reason in sel.skipped:
        found[source] += 1
        skipped[(source, reason_class(reason))] += 1
    lines = ["source\tfound\tphoto\ttexture\tart\tskipped (reasons)"]
    for source in sorted(found):
        reasons = ", ".join(f"{r} {n}" for (s, r), n in sorted(skipped.items()) if s == source)
        lines.append(f"{source}\t{found[source]}\t" + "\t".join(str(kept[(source, k)]) for k in
                                                                 ("photo", "texture", "art")) + f"\t{reasons}")
    return "\n".join(lines) + "\n"


def summary(sel: Selection) -> str:
    kinds = Counter(row[1] for row in sel.kept)
    lic = Counter(row[5] for row in sel.kept if row[1] != "art")
    size = sum((sel.dest / row[0]).stat().st_size for row in sel.kept)
    reasons = Counter(reason_class(r) for _, _, r in sel.skipped)
    return (report_table(sel).expandtabs(28)
            + "licences (photos and textures): " + ", ".join(f"{k} ×{v}" for k, v in lic.most_common()) + "\n"
            + f"{len(sel.kept)} images ({kinds['photo']} photos, {kinds['texture']} textures, {kinds['art']} art), "
            f"{size / 1e6:.1f} MB in {sel.dest}; {len(sel.skipped)} candidates skipped: "
            + ", ".join(f"{k} {v}" for k, v in reasons.most_common()) + " (SKIPPED.tsv)\n")


# ------------------------------------------------------------------------------------------ shard


#: (shorter side, JPEG quality) tried in turn by ``shard --budget-mib`` until the shard fits.
SHARD_LADDER = ((256, 85), (224, 85), (224, 80), (192, 80), (176, 75), (160, 75), (144, 70), (128, 70))


def make_shard(data: Path, dest: Path, side: int = 224, quality: int = 85,
               kinds: tuple[str, ...] = ("photo", "texture")) -> tuple[int, int]:
    """A compact copy of ``data`` for a GPU lease: (files, bytes). Rerunnable: files made with other
    settings, or no longer in ``data``, are made again or removed."""
    rows = [line.split("\t") for line in (data / "SOURCES.tsv").read_text().splitlines()[1:] if line]
    wanted = {r[0] for r in rows if r[1] in kinds}
    settings = {"side": side, "quality": quality, "kinds": list(kinds)}
    stamp = dest / "SHARD.json"
    same = stamp.exists() and json.loads(stamp.read_text()) == settings
    dest.mkdir(parents=True, exist_ok=True)
    for old in dest.rglob("*.jpg"):
        if not same or str(old.relative_to(dest)) not in wanted:
            old.unlink()
    total = 0
    for rel in sorted(wanted):
        out = dest / rel
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name("." + out.name + ".tmp")
            shrink(Image.open(data / rel).convert("RGB"), side, shorter=True).save(tmp, "JPEG", quality=quality)
            tmp.replace(out)
        total += out.stat().st_size
    header = (data / "SOURCES.tsv").read_text().splitlines()[0]
    (dest / "SOURCES.tsv").write_text("\n".join([header] + ["\t".join(r) for r in rows if r[0] in wanted]) + "\n")
    stamp.write_text(json.dumps(settings) + "\n")
    return len(wanted), total


def fit_shard(data: Path, dest: Path, budget: int) -> tuple[int, int, int, int]:
    """The largest :data:`SHARD_LADDER` step whose shard is at most ``budget`` bytes:
    (files, bytes, side, quality). Raises SystemExit when even the smallest is too big."""
    for side, quality in SHARD_LADDER:
        n, size = make_shard(data, dest, side, quality)
        if size <= budget:
            return n, size, side, quality
    raise SystemExit(f"{n} images take {size / 2**20:.1f} MiB even at {side} px: over {budget / 2**20:.1f} MiB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="select and convert the images get_training_data.sh fetched")
    c.add_argument("dest", type=Path)
    c.add_argument("work", type=Path)
    s = sub.add_parser("shard", help="a compact copy of the photos and textures for a GPU lease")
    s.add_argument("data", type=Path)
    s.add_argument("dest", type=Path)
    s.add_argument("--side", type=int, default=224, help="shorter side at most this (px)")
    s.add_argument("--quality", type=int, default=85)
    s.add_argument("--budget-mib", type=float, default=None,
                   help="instead of --side/--quality: the largest step of SHARD_LADDER that fits this size")
    args = ap.parse_args(argv)
    if args.command == "collect":
        print(summary(collect(args.dest, args.work)), end="")
    else:
        if args.budget_mib:
            n, size, side, quality = fit_shard(args.data, args.dest, int(args.budget_mib * 2**20))
        else:
            side, quality = args.side, args.quality
            n, size = make_shard(args.data, args.dest, side, quality)
        print(f"{n} images, {size / 2**20:.1f} MiB in {args.dest} (shorter side <= {side} px, JPEG {quality})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
