"""Model catalogue and downloads, against a server on 127.0.0.1 (no internet): full download,
resume with Range after an interruption, size and content checks that keep nothing, the offline
message, cached models opening with the server gone, and hub entries through huggingface_hub."""

from __future__ import annotations

import dataclasses
import sys

import pytest
from loopback import Loopback
from synthetic import legacy_hf_swin_state_dict, save_official_mae, tiny_hf_swin_simmim

from maskviz.checkpoints import load_model
from maskviz.errors import CheckpointError
from maskviz.sources import model_path
from maskviz.zoo import catalogue
from maskviz.zoo.catalogue import PIXELS, ModelEntry
from maskviz.zoo.store import (
    DownloadCancelled,
    DownloadError,
    cached_path,
    download,
    models_dir,
    partial_path,
    url_target,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MASKVIZ_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def server():
    loop = Loopback()
    yield loop
    loop.stop()


@pytest.fixture(scope="module")
def mae_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    save_official_mae(path)
    return path.read_bytes()


def _url_entry(server, data: bytes, name: str = "tiny-mae", **changes) -> ModelEntry:
    server.files[f"/mae/{name}.pth"] = data
    entry = ModelEntry(
        name=name, family="mae", architecture="mae_vit_tiny_test", input_size=32, target=PIXELS,
        size_bytes=len(data), licence="test", source="url", description="tiny test MAE",
        url=f"{server.url}/mae/{name}.pth",
    )
    return dataclasses.replace(entry, **changes)


def _files(folder) -> list:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_full_download_is_verified_then_placed(cache, server, mae_bytes):
    entry = _url_entry(server, mae_bytes, size_exact=True)
    seen = []
    path = download(entry, verify=load_model, progress=lambda done, total, label: seen.append((done, total)))
    assert path == url_target(entry) and path.read_bytes() == mae_bytes
    assert seen[-1] == (len(mae_bytes), len(mae_bytes)) and len(seen) >= 2
    assert not partial_path(entry).exists()
    assert load_model(path).format == "official-mae"
    assert server.ranges == [None]


def test_interrupted_download_resumes_with_range(cache, server, mae_bytes):
    entry = _url_entry(server, mae_bytes)
    half = len(mae_bytes) // 2
    server.cut_after[f"/mae/{entry.name}.pth"] = half
    with pytest.raises(DownloadError, match="interrupted.*run it again to resume"):
        download(entry, verify=load_model)
    assert partial_path(entry).stat().st_size == half and cached_path(entry) is None
    path = download(entry, verify=load_model)
    assert server.ranges == [None, f"bytes={half}-"]
    assert path.read_bytes() == mae_bytes and not partial_path(entry).exists()


def test_size_mismatch_keeps_nothing(cache, server, mae_bytes):
    entry = _url_entry(server, mae_bytes, size_bytes=len(mae_bytes) + 10, size_exact=True)
    with pytest.raises(DownloadError, match="catalogue expects"):
        download(entry, verify=load_model)
    assert _files(cache) == []


def test_a_file_that_does_not_load_is_not_kept(cache, server):
    entry = _url_entry(server, b"not a checkpoint at all" * 100)
    with pytest.raises(DownloadError, match="does not load"):
        download(entry, verify=load_model)
    assert _files(cache) == [] and cached_path(entry) is None


def test_server_down_gives_one_line_with_url_and_path(cache, server, mae_bytes):
    entry = _url_entry(server, mae_bytes)
    server.stop()
    with pytest.raises(DownloadError) as info:
        download(entry, verify=load_model)
    message = str(info.value)
    assert entry.url in message and str(url_target(entry)) in message and "\n" not in message
    assert _files(cache) == [] and not models_dir().joinpath(entry.name).exists()
    server.__init__()  # a fresh one for the fixture's teardown


def test_cancel_keeps_the_partial_file_for_later(cache, server, mae_bytes, monkeypatch):
    monkeypatch.setattr("maskviz.zoo.store.CHUNK", 1024)
    entry = _url_entry(server, mae_bytes)
    calls = []
    with pytest.raises(DownloadCancelled):
        download(entry, verify=load_model, progress=lambda *a: calls.append(a), cancelled=lambda: len(calls) >= 3)
    assert 0 < partial_path(entry).stat().st_size < len(mae_bytes)
    download(entry, verify=load_model)
    assert server.ranges[-1] is not None and url_target(entry).read_bytes() == mae_bytes


def test_cached_model_opens_by_name_with_the_server_down(cache, server, mae_bytes, monkeypatch):
    entry = _url_entry(server, mae_bytes)
    monkeypatch.setattr(catalogue, "CATALOGUE", (*catalogue.CATALOGUE, entry))
    with pytest.raises(CheckpointError, match="not downloaded yet.*maskviz models download tiny-mae"):
        model_path("tiny-mae")
    download(entry, verify=load_model)
    server.stop()
    assert load_model("tiny-mae").source == str(url_target(entry))
    assert download(entry, verify=load_model) == url_target(entry)  # nothing to fetch
    server.__init__()


def test_manual_entry_says_where_to_put_the_file(cache, mae_bytes):
    entry = catalogue.find_entry("simmim-swin-base-100ep")
    with pytest.raises(CheckpointError) as info:
        model_path(entry.name)
    assert entry.page in str(info.value) and str(url_target(entry)) in str(info.value)
    with pytest.raises(DownloadError, match="drive.google.com"):
        download(entry, verify=load_model)
    url_target(entry).parent.mkdir(parents=True)
    url_target(entry).write_bytes(mae_bytes)
    assert model_path(entry.name) == url_target(entry)


def test_catalogue_lists_every_family_and_imports_no_torch():
    import subprocess

    code = ("import sys, maskviz.zoo.catalogue as c, maskviz.zoo.store; "
            "print(len(c.CATALOGUE), 'torch' in sys.modules, 'PySide6' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1:] == ["False", "False"]
    entries = catalogue.entries()
    assert {e.source for e in entries.values()} == {"bundled", "url", "hub", "manual"}
    assert {"mae-vit-large", "hf-vit-mae-huge", "hf-swin-base-simmim", "simmim-vit-base-800ep"} <= set(entries)
    assert all("mae_pretrain_vit" not in e.url or e.url.endswith("_full.pth") for e in entries.values())
    assert {e.target for e in entries.values() if e.url.endswith("_full.pth")} == {catalogue.NORM_PIX}
    from maskviz.models import MODEL_CONFIGS

    assert all(e.architecture in MODEL_CONFIGS for e in entries.values())


# --- Hugging Face hub -----------------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path, monkeypatch, server):
    """A tiny SwinForMaskedImageModeling served under the hub's routes; huggingface_hub's cache in tmp."""
    from huggingface_hub import constants
    from safetensors.torch import save

    hf = tiny_hf_swin_simmim()
    server.files["/org/tiny-swin/resolve/main/config.json"] = hf.config.to_json_string().encode()
    server.files["/org/tiny-swin/resolve/main/model.safetensors"] = save(legacy_hf_swin_state_dict(hf))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    entry = ModelEntry(
        name="tiny-swin", family="simmim", architecture="simmim_swin_tiny_test", input_size=32, target=PIXELS,
        size_bytes=1, licence="test", source="hub", description="tiny test Swin", repo_id="org/tiny-swin",
        files=("config.json", "preprocessor_config.json", "model.safetensors"),
    )
    monkeypatch.setattr(catalogue, "CATALOGUE", (*catalogue.CATALOGUE, entry))
    return entry


def test_hub_entry_through_huggingface_hub(cache, server, hub, monkeypatch):
    from huggingface_hub import constants

    assert cached_path(hub) is None
    labels = []
    folder = download(hub, verify=load_model, progress=lambda done, total, label: labels.append(label),
                      endpoint=server.url)
    assert load_model(folder).format == "hf-swin-simmim"
    assert any("model.safetensors" in label for label in labels)
    assert ("GET", "/org/tiny-swin/resolve/main/model.safetensors") in server.requests
    assert _files(models_dir()) == []  # the hub keeps its own cache
    server.stop()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert model_path("tiny-swin") == folder  # opens offline
    server.__init__()


def test_hub_offline_without_cache_names_url_and_folder(cache, server, hub, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DownloadError) as info:
        download(hub, verify=load_model, endpoint=server.url)
    message = str(info.value)
    assert f"{server.url}/org/tiny-swin/resolve/main/config.json" in message
    assert str(models_dir() / "tiny-swin") in message and "HF_HUB_OFFLINE" in message


# --- command line ---------------------------------------------------------------------------------


def test_cli_lists_downloads_and_opens_by_name(cache, server, mae_bytes, monkeypatch, capsys, tmp_path):
    from PIL import Image

    from maskviz.cli import main

    entry = _url_entry(server, mae_bytes)
    monkeypatch.setattr(catalogue, "CATALOGUE", (*catalogue.CATALOGUE, entry))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("tiny-mae"))
    assert "not cached" in line and "mae" in line
    assert "mae-vit-large" in out and "mae_vit_base_patch16" in out and "_tiny_test" not in out

    assert main(["models", "path", "tiny-mae"]) == 2
    assert "maskviz models download tiny-mae" in capsys.readouterr().err
    assert main(["models", "download", "tiny-mae"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(url_target(entry)) and "100%|" in captured.err and "\r" not in captured.err
    assert main(["models", "path", "tiny-mae"]) == 0 and capsys.readouterr().out.strip() == str(url_target(entry))
    main(["models"])
    assert "cached" in next(r for r in capsys.readouterr().out.splitlines() if r.startswith("tiny-mae"))

    image = tmp_path / "im.png"
    Image.new("RGB", (32, 32), (90, 120, 200)).save(image)
    assert main(["reconstruct", str(image), "--model", "tiny-mae", "--mask", "random:0.5"]) == 0


def test_cli_unknown_or_missing_name(capsys):
    from maskviz.cli import main

    assert main(["models", "download", "no-such-model"]) == 2
    assert "no model named 'no-such-model'" in capsys.readouterr().err
    assert main(["models", "download"]) == 2


def test_cli_checks_a_file_put_there_by_hand(cache, capsys):
    from maskviz.cli import main

    entry = catalogue.find_entry("simmim-vit-base-800ep")
    assert main(["models", "download", entry.name]) == 2
    assert entry.page in capsys.readouterr().err
    url_target(entry).parent.mkdir(parents=True)
    url_target(entry).write_bytes(b"an html page saved by mistake")
    assert main(["models", "download", entry.name]) == 2
    assert "not a model checkpoint" in capsys.readouterr().err


# --- offline: one line within seconds, every file named -------------------------------------------


def closed_port_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (a port just released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("name", ["hf-vit-mae-base", "mae-vit-base"])
def test_an_unreachable_server_fails_in_one_line_within_seconds(cache, name, monkeypatch, capfd):
    import time

    from huggingface_hub import constants

    closed = closed_port_url()
    entry = catalogue.find_entry(name)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache / "hf"))
    if entry.source == "url":
        entry = dataclasses.replace(entry, url=f"{closed}/mae/visualize/{entry.filename}")
    start = time.monotonic()
    with pytest.raises(DownloadError) as info:
        download(entry, verify=load_model, endpoint=closed)
    elapsed = time.monotonic() - start
    assert elapsed < 5, elapsed  # huggingface_hub alone retries for 23 s (1+2+4+8+8) before giving up
    message = str(info.value)
    assert message.startswith(f"cannot reach {closed.removeprefix('http://')} (connection refused")
    assert "\n" not in message
    for file in (entry.files if entry.source == "hub" else (entry.url,)):
        assert file in message  # every file to put by hand ...
    assert str(models_dir() / entry.name) in message and "MASKVIZ_MODEL_MIRROR" in message  # ... and where
    assert capfd.readouterr().err == ""  # no retry chatter
    assert _files(cache) == []


def test_a_name_lookup_that_hangs_costs_the_timeout_not_the_resolvers(monkeypatch):
    import time

    from maskviz.zoo import store

    monkeypatch.setattr(store.socket, "create_connection", lambda *a, **k: time.sleep(30))
    start = time.monotonic()
    assert store.unreachable("https://huggingface.co/x", timeout=0.5) == ("huggingface.co", "no answer within 0.5 s")
    assert time.monotonic() - start < 3


def test_the_cli_says_it_in_one_line(cache, tmp_path):
    import os
    import subprocess

    env = {**os.environ, "HF_ENDPOINT": closed_port_url(), "HF_HOME": str(tmp_path / "hf"),
           "MASKVIZ_CACHE": str(cache)}
    out = subprocess.run([sys.executable, "-m", "maskviz", "models", "download", "hf-vit-mae-base"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("maskviz: error: cannot reach 127.0.0.1:") and out.stderr.count("\n") == 1


# --- a mirror: MASKVIZ_MODEL_MIRROR or the settings file, served by a plain http.server ------------


@pytest.fixture
def mirror_server(tmp_path):
    """``python -m http.server`` in a folder, on 127.0.0.1: no Range, no ETag, nothing hub-like."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    folder = tmp_path / "mirror"
    folder.mkdir()
    requests = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002 - http.server's signature
            requests.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}", requests
    server.shutdown()
    server.server_close()


def test_a_mirror_serves_url_and_hub_entries(cache, mirror_server, server, hub, mae_bytes, monkeypatch):
    folder, url, requests = mirror_server
    monkeypatch.setenv("MASKVIZ_MODEL_MIRROR", url + "/")
    plain = ModelEntry(name="tiny-mae", family="mae", architecture="mae_vit_tiny_test", input_size=32, target=PIXELS,
                       size_bytes=len(mae_bytes), licence="test", source="url", description="tiny test MAE",
                       url="https://unreachable.invalid/mae/tiny.pth", size_exact=True)
    (folder / "tiny-mae").mkdir()
    (folder / "tiny-mae" / "tiny.pth").write_bytes(mae_bytes)
    assert load_model(download(plain, verify=load_model)).format == "official-mae"
    assert url_target(plain).read_bytes() == mae_bytes

    served = folder / "tiny-swin"
    served.mkdir()
    for name in ("config.json", "model.safetensors"):  # no preprocessor_config.json: optional
        served.joinpath(name).write_bytes(hub_file(server, name))
    labels = []
    path = download(hub, verify=load_model, progress=lambda done, total, label: labels.append(label))
    assert path == models_dir() / "tiny-swin" and cached_path(hub) == path
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors"]
    assert load_model(path).format == "hf-swin-simmim"
    assert "/tiny-swin/model.safetensors" in requests and "/tiny-mae/tiny.pth" in requests
    assert any(label.endswith("model.safetensors") for label in labels)


def hub_file(server, name: str) -> bytes:
    """A file of the hub fixture's tiny Swin (the bytes its loopback hub serves)."""
    return server.files[f"/org/tiny-swin/resolve/main/{name}"]


def test_a_mirror_file_that_is_wrong_or_missing_is_refused(cache, mirror_server, server, hub, monkeypatch):
    folder, url, _ = mirror_server
    monkeypatch.setenv("MASKVIZ_MODEL_MIRROR", url)
    served = folder / "tiny-swin"
    served.mkdir()
    served.joinpath("config.json").write_bytes(hub_file(server, "config.json"))
    with pytest.raises(DownloadError) as info:
        download(hub, verify=load_model)
    assert f"{url}/tiny-swin/model.safetensors answered HTTP 404" in str(info.value)
    assert "MASKVIZ_MODEL_MIRROR" in str(info.value) and cached_path(hub) is None
    served.joinpath("model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(DownloadError, match="do not load.*nothing was kept"):
        download(hub, verify=load_model)
    assert cached_path(hub) is None and not (models_dir() / "tiny-swin" / "config.json").exists()


def test_the_mirror_can_be_set_in_the_settings_file(cache, mirror_server, mae_bytes, tmp_path, monkeypatch):
    folder, url, requests = mirror_server
    settings = tmp_path / "config"
    settings.mkdir()
    (settings / "maskviz.ini").write_text(f"[General]\ngeometry=@ByteArray(x)\n\n[models]\nmirror={url}\n")
    monkeypatch.setenv("MASKVIZ_CONFIG_DIR", str(settings))
    monkeypatch.delenv("MASKVIZ_MODEL_MIRROR", raising=False)
    entry = catalogue.find_entry("simmim-vit-base-800ep")  # Google Drive only, but the mirror has it
    (folder / entry.name).mkdir()
    (folder / entry.name / entry.filename).write_bytes(mae_bytes)  # any checkpoint: the test checks the route
    assert download(entry, verify=lambda path: None) == url_target(entry)  # any checkpoint: the route is tested
    assert url_target(entry).read_bytes() == mae_bytes
    assert requests == [f"/{entry.name}/{entry.filename}"]
    monkeypatch.setenv("MASKVIZ_MODEL_MIRROR", "/srv/models")
    with pytest.raises(DownloadError, match="must be an http:// or https:// URL"):
        download(catalogue.find_entry("mae-vit-base"), verify=load_model)
