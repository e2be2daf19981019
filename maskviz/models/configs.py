"""Every named model config, in one module that imports no torch (like timm's registry).

``maskviz models`` and ``maskviz train --help`` read these without loading the network code. The
configs know no model class: :mod:`maskviz.models.registry` holds the builder table
(config class → model class) and makes models (``create_model``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: Geometry maskviz runs. Published models stay far inside (at most 2304 patches, depth 32, width
#: 1536); the limits exist so that a config typed by hand or crafted in a file is refused before
#: any layer, position table or index table is built, instead of allocating gigabytes.
MAX_PATCHES = 16384  # a 128×128 patch grid (windowed attention: Swin at 512 px, patch 4)
MAX_ATTENDED = 4096  # tokens under global attention (ViT): a 64×64 grid, 1024 px at patch 16
MAX_WINDOW = 32
MAX_DEPTH = 256
MAX_WIDTH = 16384
MAX_CHANNELS = 64


@dataclass
class ModelConfig:
    """Architecture and data conventions of one model; JSON-serialisable via :meth:`to_dict`.

    Subclasses add the architecture fields and set ``family`` and ``kind``, and state the family's
    facts that the rest of maskviz reads instead of switching on the family's name.
    """

    family: ClassVar[str] = ""  # "mae", "simmim": what files and results record
    kind: ClassVar[str] = ""  # the config class's name in files (maskviz's own format)
    display_name: ClassVar[str] = ""  # "MAE", "SimMIM": what people read
    backbone: ClassVar[str] = "ViT"
    #: The mask spec the family trains with, and a model of it is first shown and trained with.
    default_mask: ClassVar[str] = "random:0.75"
    #: Batching rule: masks in one forward must hide the same number of patches (MAE drops the
    #: hidden tokens, so a batch must keep equally many); reconstruction groups masks by that count.
    same_hidden_count: ClassVar[bool] = False

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    norm_pix_loss: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    name: str = ""  # registry name when it is one of the named configs

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Raise ``ValueError`` (a plain sentence) for geometry no model can have or maskviz cannot run.

        Runs on construction, before any table is sized from these numbers; subclasses add their
        own fields by overriding and calling ``super().check()`` first.
        """
        whole_number("image size", self.img_size, 1)
        whole_number("patch size", self.patch_size, 1)
        whole_number("input channels", self.in_chans, 1, MAX_CHANNELS)
        if self.img_size % self.patch_size:
            raise ValueError(f"image size {self.img_size} is not a multiple of patch size {self.patch_size}")
        gh, gw = self.grid_size
        if gh * gw > MAX_PATCHES:
            raise ValueError(f"a {self.img_size} px input with patch {self.patch_size} has {gh}×{gw} = "
                             f"{gh * gw:,} patches; maskviz runs at most {MAX_PATCHES:,}")

    @property
    def grid_size(self) -> tuple[int, int]:
        return (self.img_size // self.patch_size, self.img_size // self.patch_size)

    @property
    def num_patches(self) -> int:
        gh, gw = self.grid_size
        return gh * gw

    @property
    def loss_name(self) -> str:
        """The family's training loss in words: the unit of a reconstruction's ``loss``."""
        return "MSE, normalised pixels"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["kind"] = self.kind
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)


def whole_number(what: str, value: Any, lo: int, hi: int | None = None) -> int:
    """``value`` if it is an int in ``[lo, hi]``, else ``ValueError`` saying what was expected."""
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        bound = f"from {lo:,} to {hi:,}" if hi is not None else f"of at least {lo:,}"
        raise ValueError(f"{what} must be a whole number {bound}, got {value!r}")
    return value


def check_width(what: str, width: Any, heads: Any) -> None:
    """A transformer width that attention heads split evenly."""
    whole_number(what, width, 1, MAX_WIDTH)
    whole_number(f"{what} heads", heads, 1, width)
    if width % heads:
        raise ValueError(f"{what} {width} does not split into {heads} attention heads")


def check_attended(config: ModelConfig) -> None:
    """Global attention costs the square of the token count: bound it (ViT families)."""
    if config.num_patches > MAX_ATTENDED:
        gh, gw = config.grid_size
        raise ValueError(f"a {config.img_size} px input with patch {config.patch_size} gives {gh}×{gw} = "
                         f"{gh * gw:,} patches under global attention; maskviz runs at most {MAX_ATTENDED:,}")


def check_ratio(what: str, value: Any, hi: float = 64.0) -> None:
    """A positive finite number (MLP ratio, LayerNorm eps) no larger than ``hi``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= hi:
        raise ValueError(f"{what} must be a number above 0 and at most {hi:g}, got {value!r}")


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Rebuild a config written by :meth:`ModelConfig.to_dict` (maskviz's own checkpoint format)."""
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in CONFIG_CLASSES:
        raise ValueError(f"unknown model kind {kind!r}")
    cls = CONFIG_CLASSES[kind]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown fields for {kind}: {sorted(unknown)}")
    for key in ("mean", "std"):
        if key in d:
            d[key] = tuple(d[key])
    for f in dataclasses.fields(cls):
        if f.name in d and isinstance(d[f.name], list):
            d[f.name] = tuple(d[f.name])
    return cls(**d)


# ---------------------------------------------------------------- MAE

@dataclass
class MAEConfig(ModelConfig):
    kind = "mae_vit"
    family = "mae"
    display_name = "MAE"
    default_mask = "random:0.75"
    same_hidden_count = True

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    decoder_embed_dim: int = 512
    decoder_depth: int = 8
    decoder_num_heads: int = 16
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-6  # official MAE; Hugging Face configs carry 1e-12

    @property
    def loss_name(self) -> str:
        return "MSE, per-patch normalised pixels" if self.norm_pix_loss else "MSE, normalised pixels"

    def check(self) -> None:
        super().check()
        check_attended(self)
        check_width("encoder width", self.embed_dim, self.num_heads)
        check_width("decoder width", self.decoder_embed_dim, self.decoder_num_heads)
        for what, width in (("encoder width", self.embed_dim), ("decoder width", self.decoder_embed_dim)):
            if width % 4:
                raise ValueError(f"{what} {width} is not a multiple of 4, which the sin-cos position table needs")
        whole_number("encoder depth", self.depth, 1, MAX_DEPTH)
        whole_number("decoder depth", self.decoder_depth, 0, MAX_DEPTH)
        check_ratio("MLP ratio", self.mlp_ratio)
        check_ratio("LayerNorm eps", self.norm_eps, 1.0)


def _cfg(name: str, **kw) -> MAEConfig:
    return MAEConfig(name=name, **kw)


MAE_CONFIGS: dict[str, MAEConfig] = {
    c.name: c
    for c in [
        _cfg("mae_vit_base_patch16", embed_dim=768, depth=12, num_heads=12),
        _cfg("mae_vit_large_patch16", embed_dim=1024, depth=24, num_heads=16),
        _cfg("mae_vit_huge_patch14", patch_size=14, embed_dim=1280, depth=32, num_heads=16),
        # Small configs: fast tests, quick experiments and the bundled models.
        _cfg(
            "mae_vit_small_patch8_64", img_size=64, patch_size=8, embed_dim=192, depth=6, num_heads=3,
            decoder_embed_dim=128, decoder_depth=2, decoder_num_heads=4,
        ),
        # Candidates for the 14×14-grid bundled MAE (same token count, so nearly the same cost):
        # <= 30 MB as fp16 and <= 40 ms per reconstruction on 2 CPU threads
        # (bench/bench_bundled_latency.py).
        *(
            _cfg(
                f"mae_vit_bundle_patch{patch}_{size}", img_size=size, patch_size=patch, embed_dim=384, depth=6,
                num_heads=6, decoder_embed_dim=256, decoder_depth=3, decoder_num_heads=8,
            )
            for size, patch in ((112, 8), (224, 16))
        ),
        _cfg(
            "mae_vit_tiny_test", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
            decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2,
        ),
    ]
}


# ---------------------------------------------------------------- SimMIM

def _no_norm_pix(config: ModelConfig) -> None:
    if config.norm_pix_loss:
        raise ValueError("SimMIM predicts plain normalised pixels: norm_pix_loss must be False")


@dataclass
class SimMIMViTConfig(ModelConfig):
    kind = "simmim_vit"
    family = "simmim"
    display_name = "SimMIM"
    default_mask = "simmim:0.6"
    loss_name = "L1, normalised pixels"

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    init_values: float | None = 0.1  # layer scale; None = no gamma_1/gamma_2
    norm_eps: float = 1e-6

    def check(self) -> None:
        super().check()
        _no_norm_pix(self)
        check_attended(self)
        check_width("encoder width", self.embed_dim, self.num_heads)
        whole_number("encoder depth", self.depth, 1, MAX_DEPTH)
        check_ratio("MLP ratio", self.mlp_ratio)
        check_ratio("LayerNorm eps", self.norm_eps, 1.0)

    @property
    def encoder_stride(self) -> int:
        return self.patch_size

    @property
    def num_features(self) -> int:
        return self.embed_dim


@dataclass
class SimMIMSwinConfig(ModelConfig):
    kind = "simmim_swin"
    family = "simmim"
    display_name = "SimMIM"
    backbone = "Swin"
    default_mask = "simmim:0.6"
    loss_name = "L1, normalised pixels"

    img_size: int = 192
    patch_size: int = 4
    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18, 2)
    num_heads: tuple[int, ...] = (4, 8, 16, 32)
    window_size: int = 6
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-5

    def check(self) -> None:
        super().check()
        _no_norm_pix(self)
        self.depths, self.num_heads = tuple(self.depths), tuple(self.num_heads)
        if len(self.depths) != len(self.num_heads) or not 1 <= len(self.depths) <= 8:
            raise ValueError(f"depths {self.depths} and num_heads {self.num_heads} must list the same "
                             "number of stages (1 to 8)")
        whole_number("total depth", sum(whole_number("stage depth", d, 1, MAX_DEPTH) for d in self.depths),
                     1, MAX_DEPTH)
        whole_number("window size", self.window_size, 1, MAX_WINDOW)
        check_ratio("MLP ratio", self.mlp_ratio)
        check_ratio("LayerNorm eps", self.norm_eps, 1.0)
        for s in range(self.num_stages):
            check_width(f"stage {s} width", self.embed_dim * 2**s, self.num_heads[s])
        for s in range(self.num_stages):
            res, (window, _) = self.stage_resolution(s), self.stage_window(s)
            if res < 1 or res * 2**s != self.grid_size[0] or res % window:
                raise ValueError(
                    f"a {self.img_size}px input with patch {self.patch_size} gives stage {s} a {res}×{res} "
                    f"grid, which {window}×{window} windows do not tile"
                )

    @property
    def num_stages(self) -> int:
        return len(self.depths)

    @property
    def num_features(self) -> int:
        return self.embed_dim * 2 ** (self.num_stages - 1)

    @property
    def encoder_stride(self) -> int:
        return self.patch_size * 2 ** (self.num_stages - 1)

    def stage_resolution(self, stage: int) -> int:
        return self.grid_size[0] // 2**stage

    def stage_window(self, stage: int) -> tuple[int, int]:
        """(window, shift of the odd blocks) of a stage: the official block clamps both when the
        feature map is no larger than the window (Swin-L/192: 12, 12, 12 unshifted, then 6)."""
        res = self.stage_resolution(stage)
        if res <= self.window_size:
            return res, 0
        return self.window_size, self.window_size // 2


SIMMIM_CONFIGS: dict[str, ModelConfig] = {
    c.name: c
    for c in [
        SimMIMViTConfig(name="simmim_vit_base_patch16_224", img_size=224, patch_size=16),
        SimMIMSwinConfig(name="simmim_swin_base_w6_192"),
        SimMIMSwinConfig(
            name="simmim_swin_large_w12_192", embed_dim=192, num_heads=(6, 12, 24, 48), window_size=12
        ),
        # The bundled SimMIM: the same backbone size as the bundled MAE's encoder.
        SimMIMViTConfig(
            name="simmim_vit_small_patch8_64", img_size=64, patch_size=8, embed_dim=192, depth=6, num_heads=3
        ),
        # Candidates for the 14×14-grid bundled SimMIM: its encoder sees all 196 tokens, so it is
        # narrower than the MAE's to stay under 40 ms (bench/bench_bundled_latency.py).
        *(
            SimMIMViTConfig(
                name=f"simmim_vit_bundle_patch{patch}_{size}", img_size=size, patch_size=patch, embed_dim=256,
                depth=8, num_heads=4,
            )
            for size, patch in ((112, 8), (224, 16))
        ),
        # Tiny configs for fast tests. The Swin one has shifted windows in stages 0-1 and a clamped
        # (unshifted) stage 2, like the last stage of Swin-B/192.
        SimMIMViTConfig(
            name="simmim_vit_tiny_test", img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2
        ),
        SimMIMSwinConfig(
            name="simmim_swin_tiny_test", img_size=32, patch_size=2, embed_dim=16, depths=(2, 2, 2),
            num_heads=(1, 2, 4), window_size=4,
        ),
    ]
}


# ---------------------------------------------------------------- registry

CONFIG_CLASSES: dict[str, type[ModelConfig]] = {
    cls.kind: cls for cls in (MAEConfig, SimMIMViTConfig, SimMIMSwinConfig)
}
MODEL_CONFIGS: dict[str, ModelConfig] = {**MAE_CONFIGS, **SIMMIM_CONFIGS}
#: The two geometries with a 14×14 grid that the next bundled models are chosen from
#: (resources/models/train_bundled.py --short tries both).
BUNDLE_CANDIDATES: tuple[str, ...] = (
    "mae_vit_bundle_patch8_112", "simmim_vit_bundle_patch8_112",
    "mae_vit_bundle_patch16_224", "simmim_vit_bundle_patch16_224",
)


def get_config(name: str) -> ModelConfig:
    try:
        return MODEL_CONFIGS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODEL_CONFIGS))}") from None
