"""resources/models/training_data.py: the photo filter, the near-duplicate hash, Qt resource files,
licences, the selection and the lease shard, on small synthetic images (no network, no Debian)."""

from __future__ import annotations

import importlib.util
import io
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("training_data", REPO / "resources" / "models" / "training_data.py")
td = importlib.util.module_from_spec(spec)
sys.modules.setdefault("training_data", td)  # dataclasses look their module up there
spec.loader.exec_module(td)


def photo_like(seed: int, size: tuple[int, int] = (400, 300)) -> Image.Image:
    """Smooth coloured structure plus fine grain: the statistics of a photo, not its content."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(size, Image.Resampling.BICUBIC)
    grain = rng.normal(0, 6, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(coarse, dtype=float) + grain, 0, 255).astype(np.uint8))


def drawing(size: tuple[int, int] = (400, 300)) -> Image.Image:
    img = Image.new("RGB", size, (250, 250, 240))
    d = ImageDraw.Draw(img)
    d.ellipse((40, 40, 200, 200), fill=(220, 30, 30), outline=(0, 0, 0), width=4)
    d.rectangle((220, 60, 360, 260), fill=(30, 90, 200))
    return img


def jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def test_photo_verdict_tells_photos_from_drawings():
    assert td.photo_verdict(td.photo_stats(photo_like(0))) is None
    assert td.photo_verdict(td.photo_stats(photo_like(1).convert("L"))) is None  # grey photos too
    assert "colours" in td.photo_verdict(td.photo_stats(jpeg(drawing(), 90)))
    assert "palette" in td.photo_verdict(td.photo_stats(photo_like(0).convert("P")))
    mostly_flat = Image.new("RGB", (400, 300), (40, 120, 200))  # a render: one photo-like corner on a plain field
    mostly_flat.paste(photo_like(2, (160, 120)), (0, 0))
    assert "flat" in td.photo_verdict(td.photo_stats(mostly_flat))


def test_dhash_sees_copies_and_tells_different_pictures_apart():
    img = photo_like(3)
    h = td.dhash(img)
    for copy in (jpeg(img, 50), img.resize((200, 150)), img.crop((4, 3, 396, 297))):
        assert td.hamming(h, td.dhash(copy)) <= td.DUPLICATE_BITS
    others = [td.dhash(photo_like(s)) for s in range(10, 30)]
    assert min(td.hamming(h, o) for o in others) > td.DUPLICATE_BITS


def rcc(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A version-2 Qt resource file holding ``files`` (name -> (data, compressed)) under /img."""
    names, name_offsets = b"", {}
    for n in ["img", *files]:
        name_offsets[n] = len(names)
        names += struct.pack(">HI", len(n), 0) + n.encode("utf-16-be")
    data, data_offsets = b"", {}
    for n, (blob, compressed) in files.items():
        payload = struct.pack(">I", len(blob)) + zlib.compress(blob) if compressed else blob
        data_offsets[n] = len(data)
        data += struct.pack(">I", len(payload)) + payload
    nodes = [struct.pack(">IHII", 0, 2, 1, 1) + b"\0" * 8,  # root: 1 child, the folder
             struct.pack(">IHII", name_offsets["img"], 2, len(files), 2) + b"\0" * 8]
    for n, (_, compressed) in files.items():
        nodes.append(struct.pack(">IHHHI", name_offsets[n], int(compressed), 0, 0, data_offsets[n]) + b"\0" * 8)
    tree = b"".join(nodes)
    header = 24
    return (b"qres" + struct.pack(">5I", 2, header, header + len(tree), header + len(tree) + len(data), 0)
            + tree + data + names)


def test_rcc_files_reads_plain_and_compressed_entries():
    blob = rcc({"a.png": (b"plain bytes", False), "b.txt": (b"squeezed " * 20, True)})
    assert dict(td.rcc_files(blob)) == {"/img/a.png": b"plain bytes", "/img/b.txt": b"squeezed " * 20}
    with pytest.raises(ValueError):
        list(td.rcc_files(b"not a resource file"))


def test_licence_of_takes_the_last_matching_paragraph_and_converted_suffixes(tmp_path):
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: Someone\nLicense: GPL-3+\n\n"
        "Files: src/activities/erase/resource/panda.jpg\nCopyright: Someone else\nLicense: CC-BY-SA-3.0\n\n"
        "Files: src/activities/erase/resource/shark.jpg\nCopyright: A third\nLicense: CC-BY-NC-2.0\n\n"
        "Files: src/activities/erase/resource/moon.jpg\nCopyright: not-applicable\nLicense:\n Public Domain\n")
    paragraphs = td.dep5(copyright_file)
    assert td.licence_of(paragraphs, "/gcompris/src/activities/erase/resource/panda.webp") == (
        "CC-BY-SA-3.0", "Someone else")
    assert td.licence_of(paragraphs, "/usr/share/x/other.png") == ("GPL-3+", "Someone")
    lic, _ = td.licence_of(paragraphs, "/gcompris/src/activities/erase/resource/shark.webp")
    assert td.NOT_FREE.search(lic)
    assert td.licence_of(paragraphs, "/x/src/activities/erase/resource/moon.webp")[0] == "Public Domain"


def candidate(name: str, img: Image.Image, licence: str = "CC0-1.0", kind: str = "photo") -> td.Candidate:
    return td.Candidate("pkg", f"/usr/share/pkg/{name}.png", name, kind, lambda: img, licence, "holder", "test")


def test_selection_keeps_free_photos_once_and_says_why_it_drops_the_rest(tmp_path):
    held = photo_like(50)
    sel = td.Selection(tmp_path / "data", {"held-out-one": [td.dhash(held), td.dhash(held.transpose(0))]})
    transparent = photo_like(8).convert("RGBA")
    transparent.putalpha(0)
    for c in (candidate("a", photo_like(4)), candidate("a-again", jpeg(photo_like(4), 60)),
              candidate("b", photo_like(5), licence="CC-BY-NC-4.0"), candidate("c", drawing()),
              candidate("d", photo_like(6, (100, 80))), candidate("e", transparent),
              candidate("f", held.transpose(0).resize((300, 225))), candidate("g", photo_like(7), kind="texture")):
        sel.consider(c, "1.0")
    assert [row[0] for row in sel.kept] == ["photo/pkg/a.jpg", "texture/pkg/g.jpg"]
    reasons = {original.rsplit("/", 1)[-1]: td.reason_class(reason) for _, original, reason in sel.skipped}
    assert reasons == {"a-again.png": "near-duplicate", "b.png": "licence not accepted", "c.png": "not a photo",
                       "d.png": "too small", "e.png": "transparent", "f.png": "looks like held-out"}
    td.write_tables(sel)
    assert (tmp_path / "data/photo/pkg/a.jpg").exists()
    assert len((tmp_path / "data/SOURCES.tsv").read_text().splitlines()) == 3
    assert "pkg\t8\t1\t1\t0\t" in (tmp_path / "data/REPORT.tsv").read_text()

    again = td.Selection(tmp_path / "data", {})  # a rerun that no longer keeps a.jpg removes it
    again.consider(candidate("g", photo_like(7), kind="texture"), "1.0")
    td.write_tables(again)
    assert not (tmp_path / "data/photo/pkg/a.jpg").exists() and (tmp_path / "data/texture/pkg/g.jpg").exists()


def test_shard_shrinks_photos_and_textures_and_leaves_out_art(tmp_path):
    sel = td.Selection(tmp_path / "data", {})
    sel.consider(candidate("p", photo_like(9, (800, 600))), "1")
    sel.consider(candidate("t", photo_like(10, (300, 500)), kind="texture"), "1")
    sel.consider(candidate("r", photo_like(11), kind="art"), "1")
    td.write_tables(sel)
    n, size = td.make_shard(tmp_path / "data", tmp_path / "shard", side=128, quality=80)
    assert n == 2 and 0 < size < 40_000
    assert Image.open(tmp_path / "shard/photo/pkg/p.jpg").size == (171, 128)
    assert Image.open(tmp_path / "shard/texture/pkg/t.jpg").size == (128, 213)
    assert not (tmp_path / "shard/art").exists()
    assert len((tmp_path / "shard/SOURCES.tsv").read_text().splitlines()) == 3


def test_fit_shard_steps_down_until_the_shard_fits(tmp_path):
    sel = td.Selection(tmp_path / "data", {})
    for i in range(3):
        sel.consider(candidate(f"p{i}", photo_like(20 + i, (600, 450))), "1")
    td.write_tables(sel)
    n, big = td.make_shard(tmp_path / "data", tmp_path / "shard", *td.SHARD_LADDER[0])
    n, size, side, quality = td.fit_shard(tmp_path / "data", tmp_path / "shard", big // 2)
    assert n == 3 and size <= big // 2 and (side, quality) != td.SHARD_LADDER[0]
    assert max(Image.open(p).size[1] for p in (tmp_path / "shard/photo/pkg").glob("*.jpg")) == side
    with pytest.raises(SystemExit):
        td.fit_shard(tmp_path / "data", tmp_path / "shard", 1000)


def test_texture_verdict_leaves_out_the_maps_that_ride_along_with_a_texture():
    assert td.texture_verdict(photo_like(30)) is None
    normal = Image.fromarray(np.clip(np.asarray(photo_like(31), dtype=float) * 0.1 + [115, 115, 230], 0, 255)
                             .astype(np.uint8))
    assert "normal map" in td.texture_verdict(normal)
    assert "black" in td.texture_verdict(Image.fromarray((np.asarray(photo_like(32)) // 8).astype(np.uint8)))
    assert "grey" in td.texture_verdict(photo_like(33).convert("L").convert("RGB"))
    terrain = "usr/share/games/flightgear/Textures/Terrain/"
    assert "mask" in td.texture_verdict(photo_like(34), terrain + "countryside2.green.mask.png")
    assert td.texture_verdict(photo_like(34), terrain + "countryside2.green.png") is None


def test_licence_of_matches_source_paths_exactly_where_they_are_known(tmp_path):
    copyright_file = tmp_path / "copyright"
    copyright_file.write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: Authors\nLicense: GPL-3+\n\n"
        "Files: data/images/backgrounds/*\nCopyright: not-applicable\nLicense: public-domain\n\n"
        "Files: images/*\nCopyright: Someone\nLicense: CC-BY-NC-4.0\n")
    paragraphs = td.dep5(copyright_file)
    installed = "/usr/share/tuxmath/images/backgrounds/0.jpg"
    source = td.source_path("tuxmath-data", installed)
    assert source == "data/images/backgrounds/0.jpg"
    assert td.licence_of(paragraphs, installed, source)[0] == "public-domain"
    assert td.licence_of(paragraphs, installed)[0] == "CC-BY-NC-4.0"  # by its tail, images/* would win


def test_picked_sources_keep_only_the_photos_named_in_photos(tmp_path, monkeypatch):
    root = tmp_path / "deb" / "visual"
    (root / "usr/share/doc/visual").mkdir(parents=True)
    (root / "usr/share/doc/visual/copyright").write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: Authors\nLicense: CC0\n")
    (root / "usr/share/visual/images").mkdir(parents=True)
    photo_like(60).save(root / "usr/share/visual/images/street.png")
    photo_like(61).save(root / "usr/share/visual/images/logo.png")  # photo-like statistics, but not picked
    monkeypatch.setattr(td, "DEB_SOURCES", {"visual": [("usr/share/visual/images/*", "picked")]})
    monkeypatch.setattr(td, "PHOTOS", {"visual": {"street"}})
    found = {c.name: c for c in td.Sources(tmp_path).debian()}
    assert (found["street"].kind, found["street"].listed, found["street"].licence) == ("photo", True, "CC0")
    assert td.left_out_by_eye(found["street"]) is None
    reason = td.left_out_by_eye(found["logo"])
    assert "picked by eye" in reason and td.reason_class(reason) == "not among the photos picked"
