"""Held-out photos for the quality benchmark: chosen before training, never in any training set.

    python resources/models/heldout_photos.py DEST [--work DIR]

Source: Debian's ``jigzo-data`` (a children's jigsaw game), whose puzzles are photographs of
animals, plants, vehicles and buildings, stored as a texture atlas inside each ``.pzl`` file: a
JPEG whose ``image X Y W H`` rectangle (named in the file's text header) is the whole photo. Every
photo whose ``debian/copyright`` paragraph grants a free licence is written to
``DEST/NAME.png`` with ``DEST/SOURCES.tsv`` (package, version, file, licence, copyright holder);
``penguin`` (CC-BY-NC-SA) is left out. ``get_training_data.sh`` never uses this package and drops
any training image that looks like one of these photos; ``bench/bench_quality.py --photos DEST``
adds them to the six held-out samples.

Needs apt-get and dpkg-deb (nothing is installed), and Pillow.
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

PACKAGE = "jigzo-data"
PUZZLES = "usr/share/games/jigzo/puzzles/00_default"
COPYRIGHT = f"usr/share/doc/{PACKAGE}/copyright"
#: The licences of this package's copyright file that allow redistribution and modification.
FREE = ("GPL-2", "GPL-2+")


def fetch(work: Path) -> tuple[Path, str]:
    """Download and unpack the package into ``work`` (cached); (its root, its version)."""
    debs = work / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{PACKAGE}_*.deb")):
        done = subprocess.run(["apt-get", "download", "-q", PACKAGE], cwd=debs, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"apt-get download {PACKAGE} failed (run 'apt-get update' first): {done.stderr.strip()}")
    deb = sorted(debs.glob(f"{PACKAGE}_*.deb"))[-1]
    root = work / PACKAGE
    if not (root / ".extracted").exists():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        (root / ".extracted").touch()
    version = subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                             check=True).stdout.strip()
    return root, version


def licences(copyright_text: str) -> tuple[tuple[str, str], dict[str, tuple[str, str]]]:
    """(default (licence, holder) of ``Files: *``, per-puzzle overrides by file name)."""
    default, per_file = ("", ""), {}
    for block in re.split(r"\n\s*\n", copyright_text):
        files = re.search(r"^Files:\s*(.+)$", block, re.M)
        licence = re.search(r"^License:\s*(.+)$", block, re.M)
        holder = re.search(r"^Copyright:\s*(.+)$", block, re.M)
        if not (files and licence):
            continue
        value = (licence.group(1).strip(), holder.group(1).strip() if holder else "")
        for pattern in files.group(1).split():
            if pattern == "*":
                default = value
            elif pattern.endswith(".pzl"):
                per_file[pattern.rsplit("/", 1)[-1]] = value
    return default, per_file


def photo_of(pzl: bytes) -> Image.Image:
    """The whole photo of a puzzle: the ``image`` rectangle of the largest JPEG (the atlas)."""
    rect = re.search(rb"^image (\d+) (\d+) (\d+) (\d+)", pzl, re.M)
    if not rect:
        raise ValueError("no 'image' rectangle in the header")
    atlases = []
    for m in re.finditer(b"\xff\xd8\xff", pzl):
        try:
            img = Image.open(io.BytesIO(pzl[m.start():]))
        except Exception:  # noqa: BLE001 - a marker inside other data, not an image
            continue
        atlases.append((img.width * img.height, m.start()))
    if not atlases:
        raise ValueError("no JPEG inside")
    atlas = Image.open(io.BytesIO(pzl[max(atlases)[1]:])).convert("RGB")
    x, y, w, h = (int(v) for v in rect.groups())
    return atlas.crop((x, y, x + w, y + h))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "maskviz-heldout-src")
    args = ap.parse_args(argv)
    root, version = fetch(args.work)
    default, per_file = licences((root / COPYRIGHT).read_text(errors="replace"))
    args.dest.mkdir(parents=True, exist_ok=True)
    rows = ["file\tpackage\tversion\toriginal_path\tlicence\tcopyright"]
    for pzl in sorted((root / PUZZLES).glob("*.pzl")):
        licence, holder = per_file.get(pzl.name, default)
        if licence not in FREE:
            print(f"skipped {pzl.name}: licence {licence or 'unknown'}", file=sys.stderr)
            continue
        name = pzl.stem.rsplit("-", 1)[0]
        out = args.dest / f"{name}.png"
        tmp = out.with_name(f".{out.name}.tmp")
        photo_of(pzl.read_bytes()).save(tmp, "PNG")
        tmp.replace(out)
        rows.append("\t".join((out.name, PACKAGE, version, f"/{PUZZLES}/{pzl.name}", licence, holder)))
    (args.dest / "SOURCES.tsv").write_text("\n".join(rows) + "\n")
    print(f"{len(rows) - 1} held-out photos in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
