"""Robustness corpus, part 2: odd, damaged and crafted checkpoints (generated at test time).

Each case runs ``maskviz info`` in-process and asserts the exit code and a one-line message of the
right kind; the crafted ones that declare gigabytes are also run in one child process under a low
address-space limit, so a refusal that came *after* allocating would fail there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from robust_corpus import (
    deflated_checkpoint,
    hf_folder,
    mae_config_dict,
    maskviz_file,
    overlapping_checkpoint,
    shared_storage_checkpoint,
    stride0_checkpoint,
    tiny_state_dict,
)
from synthetic import save_official_mae

from maskviz.checkpoints import load_model, save_model
from maskviz.cli import main
from maskviz.errors import CheckpointError
from maskviz.models import create_model


def _mae(tmp: Path, sd: dict, name: str = "m.pth", **extra) -> Path:
    torch.save({"model": sd, **extra}, tmp / name)
    return tmp / name


def _legacy(tmp: Path, obj: dict) -> Path:
    torch.save(obj, tmp / "legacy.pth", _use_new_zipfile_serialization=False)
    return tmp / "legacy.pth"


def _edited(**changes):
    def make(tmp: Path) -> Path:
        sd = tiny_state_dict()
        for k, v in changes.items():
            if v is None:
                sd.pop(k)
            else:
                sd[k] = v
        return _mae(tmp, sd)
    return make


def _nan(value: float):
    def make(tmp: Path) -> Path:
        sd = tiny_state_dict()
        sd["decoder_pred.bias"] = sd["decoder_pred.bias"].clone().fill_(value)
        sd["blocks.0.norm1.weight"][0] = value
        return _mae(tmp, sd)
    return make


class _Shell:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class _Exec:
    def __reduce__(self):
        return (exec, ("1",))


def _simmim(tmp: Path, head: bool = False, decoder: bool = True) -> Path:
    sd = {f"encoder.{k[len('encoder.'):]}" if k.startswith("encoder.") else k: v
          for k, v in create_model("simmim_vit_tiny_test").state_dict().items()}
    if not decoder:
        sd = {k: v for k, v in sd.items() if not k.startswith("decoder.")}
    if head:
        sd["head.weight"], sd["head.bias"] = torch.zeros(10, 32), torch.zeros(10)
    return _mae(tmp, sd, "simmim.pth")


def _folder_without_config(tmp: Path) -> Path:
    (tmp / "empty_folder").mkdir()
    return tmp / "empty_folder"


def _write(content: bytes, name: str = "bad.pth"):
    def make(tmp: Path) -> Path:
        (tmp / name).write_bytes(content)
        return tmp / name
    return make


def _png(tmp: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp / "photo.pth", format="PNG")
    return tmp / "photo.pth"


def _jpeg_as_safetensors(tmp: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp / "photo.safetensors", format="JPEG")
    return tmp / "photo.safetensors"


def _truncated(tmp: Path) -> Path:
    save_official_mae(tmp / "full.pth")
    data = (tmp / "full.pth").read_bytes()
    (tmp / "cut.pth").write_bytes(data[: len(data) // 2])
    return tmp / "cut.pth"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "pipe.pth")
    return tmp / "pipe.pth"


def _loop(tmp: Path) -> Path:
    os.symlink(tmp / "loop.pth", tmp / "loop.pth")
    return tmp / "loop.pth"


def _deflated(tmp: Path) -> Path:
    save_official_mae(tmp / "plain.pth")
    return deflated_checkpoint(tmp / "deflated.pth", tmp / "plain.pth")


def _many_views(tmp: Path) -> Path:
    big = torch.zeros(400_000)
    sd = tiny_state_dict()
    sd.update({f"extra.{i}": big for i in range(10)})
    return _mae(tmp, sd)


def _maskviz(**changes):
    return lambda tmp: maskviz_file(tmp / "m.safetensors", mae_config_dict(**changes))


def _maskviz_raw(config: object, version: str = "1"):
    def make(tmp: Path) -> Path:
        from safetensors.torch import save_file

        metadata = {"format": "maskviz", "format_version": version, "config": config if isinstance(config, str)
                    else json.dumps(config)}
        save_file({"w": torch.zeros(1)}, str(tmp / "m.safetensors"), metadata=metadata)
        return tmp / "m.safetensors"
    return make


def _hf(**changes):
    return lambda tmp: hf_folder(tmp / "hf", **changes)


def _saved_maskviz(tmp: Path) -> Path:
    return save_model(create_model("mae_vit_tiny_test"), tmp / "ok.safetensors")


def _sharded_views(tmp: Path) -> Path:
    """q/k/v of one qkv saved as slices of one storage (as HF tooling does): legitimate sharing."""
    sd = tiny_state_dict()
    sd["blocks.0.attn.qkv.weight"] = sd["blocks.0.attn.qkv.weight"].clone()
    return _mae(tmp, sd, extra_views=[sd["blocks.0.attn.qkv.weight"][i * 32:(i + 1) * 32] for i in range(3)])


OK = 0
# name -> (maker(tmp) -> path, expected exit code, pattern on stderr (errors) or stdout (success))
CHECKPOINTS = {
    "official": (lambda t: (save_official_mae(t / "mae_visualize_tiny.pth"), t / "mae_visualize_tiny.pth")[1],
                 OK, "pixel"),
    "official_no_args": (lambda t: (save_official_mae(t / "x.pth", with_args=False), t / "x.pth")[1], OK, "MAE"),
    "bare_state_dict": (lambda t: (torch.save(tiny_state_dict(), t / "sd.pth"), t / "sd.pth")[1], OK, "MAE"),
    "state_dict_wrapper": (lambda t: (torch.save({"state_dict": tiny_state_dict()}, t / "w.pth"), t / "w.pth")[1],
                           OK, "MAE"),
    "ddp_prefix": (lambda t: _mae(t, {f"module.{k}": v for k, v in tiny_state_dict().items()}), OK, "MAE"),
    "legacy_format": (lambda t: _legacy(t, {"model": tiny_state_dict()}), OK, "MAE"),
    "legacy_with_args": (lambda t: _legacy(t, {"model": tiny_state_dict(),
                                               "args": argparse.Namespace(norm_pix_loss=True)}), OK, "norm-pix"),
    "numpy_extra": (lambda t: _mae(t, tiny_state_dict(), best=__import__("numpy").float64(0.5)), OK, "MAE"),
    "exec_stub": (lambda t: _mae(t, tiny_state_dict(), extra=_Exec()), OK, "builtins.exec"),
    "qkv_slices_sharing_storage": (_sharded_views, OK, "MAE"),
    "maskviz_file": (_saved_maskviz, OK, "maskviz model file"),
    "hf_folder": (_hf(), OK, "Hugging Face"),
    "simmim": (lambda t: _simmim(t), OK, "SimMIM"),
    "nan_weights": (_nan(float("nan")), OK, "warning: 2 weight tensors hold NaN"),
    "inf_weights": (_nan(float("inf")), OK, "warning: 2 weight tensors hold NaN"),
    # damaged or not a checkpoint at all
    "empty": (_write(b""), 2, "is empty"),
    "text": (_write(b"notes about my model\n", "notes.txt"), 2, "is a text file, not a model checkpoint"),
    "png_as_model": (_png, 2, "is a PNG image, not a model checkpoint"),
    "jpeg_as_safetensors": (_jpeg_as_safetensors, 2, "is a JPEG image, not a model checkpoint"),
    "binary_junk": (_write(bytes(range(256)) * 4), 2, "not a PyTorch checkpoint"),
    "zip_junk": (_write(b"PK\x03\x04garbage"), 2, "cannot read bad.pth as a PyTorch checkpoint"),
    "truncated": (_truncated, 2, "cannot read cut.pth as a PyTorch checkpoint"),
    "bad_safetensors": (_write(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......", "x.safetensors"), 2,
                        "cannot read x.safetensors as a safetensors file"),
    "fifo": (_fifo, 2, "a FIFO .*not a regular file"),
    "symlink_loop": (_loop, 2, "symlink loop"),
    "folder_without_config": (_folder_without_config, 2, "without config.json"),
    "top_level_list": (lambda t: (torch.save([1, 2], t / "l.pth"), t / "l.pth")[1], 2, "does not hold a state dict"),
    # crafted to allocate
    "deflate_compressed": (_deflated, 2, "compressed .*would unpack to"),
    "stride0_vit_huge": (lambda t: stride0_checkpoint(t / "h.pth"), 2, "stride-0 or overlapping view"),
    "stride0_legacy": (lambda t: _legacy(t, {"model": {**tiny_state_dict(), "pos_embed": torch.zeros(1).expand(
        1, 17, 32)}}), 2, "stride-0 or overlapping view"),
    "overlapping_views": (lambda t: overlapping_checkpoint(t / "o.pth"), 2, "stride-0 or overlapping view"),
    "shared_storage_vit_large": (lambda t: shared_storage_checkpoint(t / "s.pth"), 2,
                                 "declare 1,318.2 MB but share only 16.8 MB"),
    "many_views_of_one_tensor": (_many_views, 2, "declare 16.2 MB but share only 1.8 MB"),
    "maskviz_img4096_patch1": (_maskviz(img_size=4096, patch_size=1), 2, "16,777,216 patches"),
    "maskviz_img2048_patch1": (_maskviz(img_size=2048, patch_size=1), 2, "4,194,304 patches"),
    "maskviz_depth10000_dim100000": (_maskviz(depth=10000, embed_dim=100000, num_heads=1), 2,
                                     "encoder width must be a whole number from 1 to 16,384"),
    "maskviz_depth10000": (_maskviz(depth=10000), 2, "encoder depth must be a whole number from 1 to 256"),
    "maskviz_patch0": (_maskviz(patch_size=0), 2, "patch size must be a whole number of at least 1, got 0"),
    "maskviz_heads_do_not_divide": (_maskviz(num_heads=3), 2, "encoder width 32 does not split into 3"),
    "maskviz_width_string": (_maskviz(embed_dim="x"), 2, "cannot build: encoder width must be a whole number"),
    "maskviz_unknown_kind": (_maskviz(kind="resnet"), 2, "unknown model kind 'resnet'"),
    "maskviz_config_not_json": (_maskviz_raw("{nope"), 2, "unreadable maskviz metadata"),
    "maskviz_config_a_list": (_maskviz_raw([1, 2]), 2, "not a JSON object"),
    "maskviz_newer_format": (_maskviz_raw(mae_config_dict(), "9"), 2, "newer maskviz"),
    "maskviz_shapes_lie": (_maskviz(), 2, "does not match the architecture"),
    "hf_hidden_size_0": (_hf(hidden_size=0), 2, "hidden_size must be a whole number of at least 1, got 0"),
    "hf_img4096_patch1": (_hf(image_size=4096, patch_size=1), 2, "16,777,216 patches"),
    "hf_depth10000": (_hf(num_hidden_layers=10000), 2, "encoder depth must be a whole number from 1 to 256"),
    "hf_missing_field": (_hf(hidden_size=None), 2, "hidden_size"),
    "hf_bert": (_hf(model_type="bert"), 2, "'bert' model"),
    # the wrong kind of model
    "encoder_only": (lambda t: (save_official_mae(t / "e.pth", encoder_only=True), t / "e.pth")[1], 2,
                     "only the MAE encoder"),
    "classifier": (_edited(**{"head.weight": torch.zeros(10, 32), "decoder_pred.weight": None,
                              "decoder_pred.bias": None, "mask_token": None, "decoder_embed.weight": None,
                              "decoder_pos_embed": None}), 2, "fine-tuned classifier"),
    "classifier_with_decoder": (_edited(**{"head.weight": torch.zeros(10, 32), "head.bias": torch.zeros(10)}), 2,
                                "holds an MAE decoder and also a classification head"),
    "simmim_classifier_with_decoder": (lambda t: _simmim(t, head=True), 2, "its decoder and also a classification"),
    "simmim_encoder_only": (lambda t: _simmim(t, decoder=False), 2, "holds only the encoder"),
    "missing_key": (_edited(**{"decoder_norm.weight": None}), 2, "missing keys: decoder_norm.weight"),
    "shape_mismatch": (_edited(**{"decoder_pred.bias": torch.zeros(5)}), 2, "shape mismatch"),
    "not_a_mim_model": (lambda t: _mae(t, {"conv.weight": torch.zeros(2)}), 2, "not a checkpoint maskviz recognises"),
    "os_system_pickle": (lambda t: _mae(t, tiny_state_dict(), evil=_Shell()), 2, "it would call"),
    "weights_not_tensors": (lambda t: _mae(t, OrderedDict(a=1)), 2, "holds no model weights"),
    "sparse_tensor": (lambda t: _mae(t, {**tiny_state_dict(), "pos_embed": torch.zeros(1, 17, 32).to_sparse()}),
                      2, "is not a dense tensor"),
    "zero_width": (_edited(cls_token=torch.zeros(1, 1, 0)), 2, "gives a width of 0"),
    "zero_patch": (_edited(**{"patch_embed.proj.weight": torch.zeros(32, 3, 0, 0)}), 2, "describe no image"),
}


def _one_line(text: str) -> str:
    assert text.count("\n") == 1 and "Traceback" not in text, text
    return text


@pytest.mark.parametrize("name", sorted(CHECKPOINTS))
def test_checkpoint_corpus(tmp_path, capsys, name):
    make, code, pattern = CHECKPOINTS[name]
    path = make(tmp_path)
    assert main(["info", str(path)]) == code
    out, err = capsys.readouterr()
    if code:
        import re

        assert re.search(pattern, _one_line(err)), err
        with pytest.raises(CheckpointError):
            load_model(path)
    else:
        assert pattern in out + err, out + err


def test_nan_weights_warn_everywhere_and_the_result_says_nan(tmp_path, capsys):
    """CLI stderr, the JSON warnings, the model summary (model dock) and the result itself."""
    from maskviz.reconstruct import NAN_PROBLEM

    path = _nan(float("nan"))(tmp_path)
    img = tmp_path / "a.png"
    from PIL import Image

    Image.new("RGB", (32, 32), (90, 20, 200)).save(img)
    js = tmp_path / "m.json"
    assert main(["reconstruct", str(img), "--model", str(path), "--json", str(js), "--out",
                 str(tmp_path / "p.png"), "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert "maskviz: warning: 2 weight tensors hold NaN" in err and "blocks.0.norm1.weight" in err
    assert "the model produced NaN" in out
    doc = json.loads(js.read_text())
    assert any("NaN" in w for w in doc["warnings"]) and NAN_PROBLEM in doc["warnings"]
    assert doc["results"][0]["problem"] == NAN_PROBLEM and doc["loss"] is None
    assert load_model(path).summary()["warnings"]


def test_crafted_checkpoints_are_refused_before_allocating(tmp_path):
    """One child process, its address space capped at +512 MB after imports, runs every case that
    would allocate gigabytes if the refusal came late; each must end with its own message."""
    if sys.platform != "linux":
        pytest.skip("RLIMIT_AS and /proc are Linux features")
    cases = {
        "stride0": [str(stride0_checkpoint(tmp_path / "h.pth"))],
        "shared": [str(shared_storage_checkpoint(tmp_path / "s.pth"))],
        "overlap": [str(overlapping_checkpoint(tmp_path / "o.pth"))],
        "img4096": [str(_maskviz(img_size=4096, patch_size=1)(tmp_path))],
        "deep": [str(hf_folder(tmp_path / "hf", num_hidden_layers=10000, hidden_size=99996,
                               num_attention_heads=1))],
        "hf4096": [str(hf_folder(tmp_path / "hf2", image_size=4096, patch_size=1))],
    }
    expected = {"stride0": "stride-0", "shared": "share only", "overlap": "overlapping", "img4096": "patches",
                "deep": "from 1 to", "hf4096": "patches"}
    child = CHILD.format(cases=json.dumps(cases))
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=300,
                          cwd=Path(__file__).parent)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert results.pop("_probe") == "refused", "the address-space cap does not hold in this environment"
    for name, (code, err) in results.items():
        assert code == 2 and expected[name] in err and "memory" not in err, (name, err)


CHILD = """
import contextlib, io, json, re, resource, torch
torch.set_num_threads(1)
from maskviz.cli import main
vm = int(re.search(r"VmSize:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 512 * 2**20, resource.RLIM_INFINITY))
results = {{}}
try:
    torch.empty(300_000_000).fill_(0)  # 1.2 GB: must fail, or the cap proves nothing
    results["_probe"] = "allocated"
except (RuntimeError, MemoryError):
    results["_probe"] = "refused"
for name, args in {cases}.items():
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["info", *args])
    results[name] = (code, err.getvalue())
print(json.dumps(results))
"""


def test_a_device_is_not_a_model(capsys):
    assert main(["info", "/dev/zero"]) == 2
    assert "it is a device, not a regular file" in _one_line(capsys.readouterr().err)


def test_unreadable_paths_name_the_reason(tmp_path, monkeypatch):
    """What root never sees (it may read anything): the stat and access failures a user meets."""
    import errno

    import maskviz.fileio

    path = tmp_path / "m.safetensors"
    path.write_bytes(b"x")
    monkeypatch.setattr(maskviz.fileio.os, "access", lambda *a: False)
    with pytest.raises(CheckpointError, match="permission denied$"):
        load_model(path)

    def no_search(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(maskviz.fileio.os, "stat", no_search)
    with pytest.raises(CheckpointError, match="a folder on the way cannot be searched"):
        load_model(path)


def test_a_checkpoint_in_a_folder_without_search_permission(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: a folder without search permission is still searchable")
    folder = tmp_path / "locked"
    folder.mkdir()
    save_official_mae(folder / "m.pth")
    folder.chmod(0)
    try:
        with pytest.raises(CheckpointError, match="permission denied"):
            load_model(folder / "m.pth")
    finally:
        folder.chmod(0o700)


