"""The published checkpoints that can reconstruct pixels, by name: what they are and where they live.

Pure data (no torch, no Qt), so ``maskviz models`` lists it instantly. An entry names its
architecture (a config of :mod:`maskviz.models.configs`); its family follows from that. Three kinds of source:

* ``url``: a plain HTTPS file (facebookresearch/mae), streamed into maskviz's cache;
* ``hub``: a Hugging Face repository, fetched with ``huggingface_hub`` into its own cache;
* ``manual``: Google Drive links (microsoft/SimMIM) that need a browser: the entry says where to
  download the file and where to put it;
* ``bundled``: ships with maskviz.

Sizes: ``size_bytes`` is exact only where ``size_exact`` is True; otherwise it is the fp32 weight
payload computed from the architecture's parameter count (the published files add a little
pickle overhead, and a training checkpoint may carry more). Downloads always check the size the
server announces, and the catalogue's size where it is exact. Encoder-only files
(``mae_pretrain_vit_*.pth`` without ``_full``, timm ``.mae``) are deliberately absent: they have no
decoder and cannot reconstruct.
"""

from __future__ import annotations

from dataclasses import dataclass

from maskviz.models.configs import get_config

MAE_URL = "https://dl.fbaipublicfiles.com/mae"
SIMMIM_README = "https://github.com/microsoft/SimMIM#model-zoo"
MAE_LICENCE = "CC BY-NC 4.0 (facebookresearch/mae)"
SIMMIM_LICENCE = "MIT (microsoft/SimMIM)"
HF_LICENCE = "Apache-2.0 (model card)"
MASKVIZ_LICENCE = "MIT (maskviz)"
PIXELS = "pixels"
NORM_PIX = "norm-pix"

# fp32 bytes of the whole model (encoder + decoder) from the parameter counts of the architectures.
_MAE_BYTES = {"base": 111_907_840 * 4, "large": 329_541_888 * 4, "huge": 657_074_508 * 4}
_SWIN_B_BYTES = 89_874_104 * 4
_SWIN_L_BYTES = 197_000_000 * 4  # about 197 M parameters (Swin-L + decoder); an estimate
_VIT_B_SIMMIM_BYTES = 86_000_000 * 4  # about 86 M parameters; an estimate


@dataclass(frozen=True)
class ModelEntry:
    """One named model. ``files`` are the hub files to fetch (``config.json`` first), or the URL's
    file name; ``page`` is where a person downloads a ``manual`` entry."""

    name: str
    architecture: str  # maskviz registry name: the family and its facts come from its config
    input_size: int
    target: str  # PIXELS | NORM_PIX
    size_bytes: int
    licence: str
    source: str  # "url" | "hub" | "manual" | "bundled"
    description: str
    url: str = ""  # url entries: the file; manual entries: the download page
    repo_id: str = ""
    files: tuple[str, ...] = ()
    size_exact: bool = False
    page: str = ""
    family: str = ""  # the architecture's family ("mae", "simmim") when not given

    def __post_init__(self) -> None:
        if not self.family:
            object.__setattr__(self, "family", get_config(self.architecture).family)

    @property
    def family_name(self) -> str:
        """The family as people read it ("MAE", "SimMIM")."""
        return get_config(self.architecture).display_name or self.family

    @property
    def filename(self) -> str:
        """The file a url/manual entry is stored as."""
        return self.files[0] if self.files else self.url.rsplit("/", 1)[-1]

    @property
    def where(self) -> str:
        """Where it comes from, in one short phrase."""
        return {"hub": f"hf.co/{self.repo_id}", "url": self.url, "manual": self.page,
                "bundled": "ships with maskviz"}[self.source]


def _mae(name: str, size: str, file: str, target: str, description: str) -> ModelEntry:
    patch = 14 if size == "huge" else 16
    folder = "visualize" if target == PIXELS else "pretrain"
    return ModelEntry(
        name=name, architecture=f"mae_vit_{size}_patch{patch}", input_size=224, target=target,
        size_bytes=_MAE_BYTES[size], licence=MAE_LICENCE, source="url", description=description,
        url=f"{MAE_URL}/{folder}/{file}",
    )


def _hf_mae(size: str, weights: str, description: str) -> ModelEntry:
    patch = 14 if size == "huge" else 16
    return ModelEntry(
        name=f"hf-vit-mae-{size}", architecture=f"mae_vit_{size}_patch{patch}", input_size=224,
        target=PIXELS, size_bytes=_MAE_BYTES[size], licence=HF_LICENCE, source="hub", description=description,
        repo_id=f"facebook/vit-mae-{size}", files=("config.json", "preprocessor_config.json", weights),
    )


def _simmim_drive(name: str, arch: str, size: int, file: str, drive_id: str, nbytes: int, what: str) -> ModelEntry:
    return ModelEntry(
        name=name, architecture=arch, input_size=size, target=PIXELS, size_bytes=nbytes,
        licence=SIMMIM_LICENCE, source="manual", description=what, files=(file,),
        page=f"https://drive.google.com/file/d/{drive_id}/view?usp=sharing",
    )


CATALOGUE: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="mae_small", architecture="mae_vit_small_patch8_64", input_size=64, target=PIXELS,
        size_bytes=0, licence=MASKVIZ_LICENCE, source="bundled",
        description="maskviz's default: small MAE trained with maskviz train, 64 px photos (bundled:mae_small)",
    ),
    ModelEntry(
        name="simmim_small", architecture="simmim_vit_small_patch8_64", input_size=64,
        target=PIXELS, size_bytes=0, licence=MASKVIZ_LICENCE, source="bundled",
        description="small SimMIM ViT trained with maskviz train, 64 px (bundled:simmim_small)",
    ),
    _mae("mae-vit-base", "base", "mae_visualize_vit_base.pth", PIXELS,
         "MAE ViT-B/16 trained on pixel targets for visualisation (the official demo's weights)"),
    _mae("mae-vit-large", "large", "mae_visualize_vit_large.pth", PIXELS,
         "MAE ViT-L/16, pixel targets: the official demo notebook's model, the best all-round choice"),
    _mae("mae-vit-huge", "huge", "mae_visualize_vit_huge.pth", PIXELS,
         "MAE ViT-H/14, pixel targets: the largest visualisation model"),
    _mae("mae-vit-large-ganloss", "large", "mae_visualize_vit_large_ganloss.pth", PIXELS,
         "MAE ViT-L/16 with an extra GAN loss: sharper, more realistic fills"),
    _mae("mae-vit-base-normpix", "base", "mae_pretrain_vit_base_full.pth", NORM_PIX,
         "MAE ViT-B/16 as pre-trained for the paper: predicts per-patch normalised pixels (norm-pix)"),
    _mae("mae-vit-large-normpix", "large", "mae_pretrain_vit_large_full.pth", NORM_PIX,
         "MAE ViT-L/16 as pre-trained for the paper, norm-pix targets"),
    _mae("mae-vit-huge-normpix", "huge", "mae_pretrain_vit_huge_full.pth", NORM_PIX,
         "MAE ViT-H/14 as pre-trained for the paper, norm-pix targets"),
    _hf_mae("base", "model.safetensors",
            "MAE ViT-B/16 on the Hugging Face hub (converted from the pixel-target demo weights)"),
    _hf_mae("large", "pytorch_model.bin", "MAE ViT-L/16 on the Hugging Face hub (pixel targets)"),
    _hf_mae("huge", "pytorch_model.bin", "MAE ViT-H/14 on the Hugging Face hub (pixel targets)"),
    ModelEntry(
        name="hf-swin-base-simmim", architecture="simmim_swin_base_w6_192", input_size=192,
        target=PIXELS, size_bytes=_SWIN_B_BYTES, licence=HF_LICENCE, source="hub",
        description="SimMIM Swin-B (window 6, 100 epochs) on the Hugging Face hub",
        repo_id="microsoft/swin-base-simmim-window6-192",
        files=("config.json", "preprocessor_config.json", "model.safetensors"),
    ),
    ModelEntry(
        name="hf-swin-large-simmim", architecture="simmim_swin_large_w12_192", input_size=192,
        target=PIXELS, size_bytes=_SWIN_L_BYTES, licence=HF_LICENCE, source="hub",
        description="SimMIM Swin-L (window 12, 800 epochs) on the Hugging Face hub (file layout not verified)",
        repo_id="microsoft/swin-large-simmim-window12-192",
        files=("config.json", "preprocessor_config.json", "pytorch_model.bin"),
    ),
    _simmim_drive("simmim-swin-base-100ep", "simmim_swin_base_w6_192", 192,
                  "simmim_pretrain__swin_base__img192_window6__100ep.pth", "1Wcbr66JL26FF30Kip9fZa_0lXrDAKP-d",
                  _SWIN_B_BYTES, "SimMIM Swin-B, 100 epochs, official checkpoint (Google Drive)"),
    _simmim_drive("simmim-swin-base-800ep", "simmim_swin_base_w6_192", 192,
                  "simmim_pretrain__swin_base__img192_window6__800ep.pth", "15zENvGjHlM71uKQ3d2FbljWPubtrPtjl",
                  _SWIN_B_BYTES, "SimMIM Swin-B, 800 epochs, official checkpoint (Google Drive)"),
    _simmim_drive("simmim-swin-large-800ep", "simmim_swin_large_w12_192", 192,
                  "simmim_pretrain__swin_large__img192_window12__800ep.pth", "1qDxrTl2YUDB0505_4QrU5LU2R1kKmcBP",
                  _SWIN_L_BYTES, "SimMIM Swin-L, 800 epochs, official checkpoint (Google Drive)"),
    _simmim_drive("simmim-vit-base-800ep", "simmim_vit_base_patch16_224", 224,
                  "simmim_pretrain__vit_base__img224__800ep.pth", "1dJn6GYkwMIcoP3zqOEyW1_iQfpBi8UOw",
                  _VIT_B_SIMMIM_BYTES, "SimMIM ViT-B/16, 800 epochs, official checkpoint (Google Drive)"),
)


def entries() -> dict[str, ModelEntry]:
    """Every entry by name, in listing order."""
    return {e.name: e for e in CATALOGUE}


def find_entry(name: str) -> ModelEntry | None:
    return entries().get(name)


def format_size(nbytes: int, exact: bool = True) -> str:
    """``1.32 GB``; ``≈`` in front when the number is an estimate."""
    value, unit = float(nbytes), "B"
    for unit in ("B", "kB", "MB", "GB"):  # noqa: B007 - the last unit reached is the one used
        if value < 1000 or unit == "GB":
            break
        value /= 1000
    text = f"{value:.0f} {unit}" if unit in ("B", "kB") or value >= 100 else f"{value:.2f} {unit}"
    return text if exact else "≈" + text
