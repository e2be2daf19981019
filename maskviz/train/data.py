"""Training and validation images, with every random choice derived from ``(seed, sample position)``.

The training data is one endless sequence of samples shared by all processes: position ``p``
is image ``perm_e[p % n]`` of epoch ``e = p // n`` (a seeded permutation per epoch), and its crop,
flip and mask come from a generator seeded by ``(seed, p)``. A batch is a range of positions, so
any step of any process can be rebuilt from nothing but the seed — which is what makes
``--resume`` exact and the result independent of how many processes share a batch.
"""

from __future__ import annotations

import hashlib
import math
import signal
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from maskviz.errors import ImageError
from maskviz.images import fit_to_model, load_image, to_tensor
from maskviz.masks import MaskSpec
from maskviz.models.base import ModelConfig
from maskviz.train.config import TrainError, parse_mask_mixture
from maskviz.train.dead_leaves import dead_leaves

IMAGE_SUFFIXES = frozenset(Image.registered_extensions())
CROP_SCALE = (0.2, 1.0)  # official MAE RandomResizedCrop
CROP_RATIO = (3 / 4, 4 / 3)
STRONG_CROP_SCALE = (0.08, 1.0)
VAL_CROP_SCALE = (0.35, 1.0)  # extra validation crops stay large: they stand in for more images

# Stream tags keep the derived generators of different purposes independent.
_EPOCH, _SAMPLE, _SPLIT, _VAL, _PROBE = range(5)


def derived_seed(*parts: int) -> int:
    """A 64-bit seed for ``(seed, purpose, index...)``; numpy's SeedSequence mixes the parts well."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, np.uint64)[0])


def derived_rng(*parts: int) -> np.random.Generator:
    """A generator for ``(seed, purpose, index...)`` (SeedSequence mixing, without an extra round trip)."""
    return np.random.default_rng([int(p) for p in parts])


# ------------------------------------------------------------------------------------ the folder


@dataclass
class ImageFolder:
    """Readable images under ``root`` (sorted by relative path), and how many files were passed over."""

    root: Path
    files: list[Path]
    skipped: int
    other_files: int

    def fingerprint(self) -> str:
        """Identifies the exact image list, so a resume can tell that the folder changed."""
        h = hashlib.sha256()
        for f in self.files:
            h.update(f.relative_to(self.root).as_posix().encode() + b"\0")
        return h.hexdigest()[:16]


def scan_images(root: str | Path) -> ImageFolder:
    """Find image files recursively; those Pillow cannot even open are skipped and counted.

    Only headers are read here (a full decode of a big folder would take minutes); an image that
    fails later, while training, is replaced by its successor (see :class:`SampleStream`).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise TrainError(f"--data {root} is not a folder")
    candidates, others = [], 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            candidates.append(path)
        else:
            others += 1
    files = [p for p in candidates if _opens(p)]
    if not candidates:
        extra = f" (it holds {others} other file{'s' * (others != 1)})" if others else ""
        raise TrainError(f"no image files in {root}{extra}")
    if not files:
        raise TrainError(f"no readable images in {root}: all {len(candidates)} image files were skipped")
    return ImageFolder(root, files, len(candidates) - len(files), others)


def _opens(path: Path) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                return img.width > 0 and img.height > 0
    except Exception:  # noqa: BLE001 - any decoder failure means "skip this file"
        return False


def split_files(files: list[Path], val_split: float, seed: int, min_val: int = 0) -> tuple[list[Path], list[Path]]:
    """Hold out ``round(n × val_split)`` images, at least ``min_val`` while that leaves three quarters for
    training (at least one when asked, never all), chosen by seed."""
    n = len(files)
    wanted = max(round(n * val_split), min(min_val, n // 4))
    n_val = 0 if val_split <= 0 or n < 2 else min(n - 1, max(1, wanted))
    order = derived_rng(seed, _SPLIT).permutation(n)
    val = set(order[:n_val].tolist())
    return [f for i, f in enumerate(files) if i not in val], [f for i, f in enumerate(files) if i in val]


# ------------------------------------------------------------------------------------ augmentation


def random_resized_crop_box(width: int, height: int, rng: np.random.Generator,
                            scale: tuple[float, float] = CROP_SCALE) -> tuple[int, int, int, int]:
    """``(left, top, w, h)`` covering a random area fraction and aspect ratio (Inception-style crop).

    Ten draws, then a centred crop clamped to the allowed aspect ratio, like torchvision's
    ``RandomResizedCrop`` — but from ``rng`` rather than torch's global generator.
    """
    area = width * height
    log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    w, h = width, height
    if width / height < CROP_RATIO[0]:
        h = round(width / CROP_RATIO[0])
    elif width / height > CROP_RATIO[1]:
        w = round(height * CROP_RATIO[1])
    return (width - w) // 2, (height - h) // 2, w, h


#: The eight symmetries of a square: identity, then each transpose Pillow names.
_DIHEDRAL = (None, *Image.Transpose)


def augment(img: Image.Image, size: int, rng: np.random.Generator, kind: str = "mae") -> Image.Image:
    """One training view of ``img``.

    ``mae``: the official MAE view, a random resized crop (bicubic) then a coin-flip mirror.
    ``strong``: for a model trained from scratch on a few hundred images, where the official view
    overfits: crops down to 8 % of the area, any of the 8 flips and quarter turns, and the colour
    channels in a random order half of the time. Pillow shrinks large crops by box-averaging first
    (``reducing_gap``), which is several times faster and visually the same.
    """
    if kind == "mae":
        left, top, w, h = random_resized_crop_box(img.width, img.height, rng)
        view = img.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + w, top + h))
        return view.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else view
    left, top, w, h = random_resized_crop_box(img.width, img.height, rng, STRONG_CROP_SCALE)
    view = img.resize((size, size), Image.Resampling.BICUBIC, box=(left, top, left + w, top + h), reducing_gap=2.0)
    symmetry = _DIHEDRAL[int(rng.integers(len(_DIHEDRAL)))]
    if symmetry is not None:
        view = view.transpose(symmetry)
    if rng.random() < 0.5:
        bands = view.convert("RGB").split()
        view = Image.merge("RGB", [bands[i] for i in rng.permutation(3)])
    return view


# ------------------------------------------------------------------------------------ masks


class MaskMaker:
    """Seeded patch masks for one model, checked against the family's needs.

    ``spec`` is one mask spec, or a mixture ``A|B|...``: each sample then uses one of them, chosen
    by its seed, so a model learns to fill holes of several shapes and sizes (the app lets a user
    paint any). A mixture of counts suits SimMIM only: MAE needs one count per batch.
    """

    def __init__(self, spec: str, model_config: ModelConfig) -> None:
        self.spec = spec
        self.specs: list[MaskSpec] = parse_mask_mixture(spec)
        self.grid, self.patch = model_config.grid_size, model_config.patch_size
        self.same_count = model_config.same_hidden_count  # the family's batching rule

    def make(self, seed: int) -> torch.Tensor:
        spec = self.specs[seed % len(self.specs)]
        return torch.from_numpy(spec.generate(self.grid, self.patch, seed=seed).reshape(-1))

    def stack(self, seeds: list[int]) -> torch.Tensor:
        masks = torch.stack([self.make(s) for s in seeds])
        self.check(masks)
        return masks

    def check(self, masks: torch.Tensor) -> None:
        """Every mask must hide something; MAE also needs one visible count per batch."""
        hidden = masks.sum(dim=1)
        if bool((hidden == 0).any()):
            raise TrainError(f"mask {self.spec} hides no patches, so there is nothing to learn")
        if self.same_count and bool((hidden != hidden[0]).any()):
            counts = sorted(set(hidden.tolist()))
            raise TrainError(
                f"mask {self.spec} hides a varying number of patches ({', '.join(map(str, counts[:4]))}); "
                "MAE needs the same count in every image of a batch: use random:RATIO or block:RATIO"
            )

    def probe(self, seed: int, count: int = 16) -> None:
        """Fail before training starts when the spec cannot work (checked on ``count`` draws)."""
        self.stack([derived_seed(seed, _PROBE, i) for i in range(count)])


# ------------------------------------------------------------------------------------ streams


class SampleStream:
    """The endless, seeded training sample sequence (see the module docstring)."""

    def __init__(self, files: list[Path], seed: int, model_config: ModelConfig, masks: MaskMaker,
                 warn: Callable[[str], None] = lambda _msg: None, synthetic: float = 0.0,
                 augmentation: str = "mae") -> None:
        self.files, self.seed, self.masks, self.warn = files, seed, masks, warn
        self.model_config = model_config
        self.size, self.mean, self.std = model_config.img_size, model_config.mean, model_config.std
        self.synthetic, self.augmentation = synthetic, augmentation
        self._perms: dict[int, np.ndarray] = {}
        self._bad: set[int] = set()
        self._decoded = DecodedCache()

    def recipe(self) -> tuple[Any, ...]:
        """Picklable arguments that rebuild this stream in another process (see :class:`_BatchDataset`)."""
        return self.files, self.seed, self.model_config, self.masks.spec, self.synthetic, self.augmentation

    def index(self, position: int) -> int:
        """Which image sits at a stream position."""
        epoch, offset = divmod(position, len(self.files))
        if epoch not in self._perms:
            if len(self._perms) > 2:
                self._perms.pop(min(self._perms))
            self._perms[epoch] = derived_rng(self.seed, _EPOCH, epoch).permutation(len(self.files))
        return int(self._perms[epoch][offset])

    def batch(self, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``[count, C, H, W]`` and masks ``[count, L]`` for positions ``first .. first+count-1``."""
        imgs, seeds = [], []
        for p in range(first, first + count):
            rng = derived_rng(self.seed, _SAMPLE, p)
            # The coin is only drawn when synthetic images are asked for, so runs without them
            # (and their resumes) draw exactly the same crops as before the option existed.
            if self.synthetic and rng.random() < self.synthetic:
                view = Image.fromarray(dead_leaves(self.size, rng))
            else:
                view = augment(self._load(self.index(p)), self.size, rng, self.augmentation)
            imgs.append(to_tensor(view, self.mean, self.std))
            seeds.append(int(rng.integers(2**63)))
        return torch.cat(imgs), self.masks.stack(seeds)

    def _load(self, i: int) -> Image.Image:
        """An image that fails to decode is replaced by the next readable one (deterministically)."""
        for k in range(len(self.files)):
            j = (i + k) % len(self.files)
            if j in self._bad:
                continue
            try:
                return self._decoded.get(j, lambda j=j: load_image(self.files[j]))
            except ImageError as exc:
                self._bad.add(j)
                self.warn(f"skipping unreadable image: {exc}")
        raise TrainError("none of the training images could be decoded")


class DecodedCache:
    """Decoded training images kept in memory up to a pixel budget (least recently used out first).

    Decoding a large JPEG costs more than the crop, resize and tensor that follow it, and a short
    fine-tune revisits every image many times; the cache changes speed, never the samples.
    """

    def __init__(self, max_pixels: int = 400_000_000) -> None:
        self.max_pixels = max_pixels
        self._images: OrderedDict[int, Image.Image] = OrderedDict()
        self._pixels = 0

    def get(self, key: int, load: Callable[[], Image.Image]) -> Image.Image:
        if key in self._images:
            self._images.move_to_end(key)
            return self._images[key]
        img = load()
        img.load()
        self._images[key] = img
        self._pixels += img.width * img.height
        while self._pixels > self.max_pixels and len(self._images) > 1:
            _, old = self._images.popitem(last=False)
            self._pixels -= old.width * old.height
        return img


class _BatchDataset(torch.utils.data.Dataset):
    """Micro-batches of a :class:`SampleStream` by key ``(first position, count)``.

    Only the stream's recipe travels to worker processes; each process builds its own stream and
    collects its own warnings (an unreadable image), which come back with the batch. A training
    error comes back as text, so the main process raises it as one line instead of a worker traceback.
    """

    def __init__(self, recipe: tuple[Any, ...]) -> None:
        self.recipe = recipe
        self._stream: SampleStream | None = None
        self._messages: list[str] = []

    def __getstate__(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "_stream": None, "_messages": []}

    def __len__(self) -> int:  # an endless stream: the sampler says which batches to make
        return 2**62

    def __getitem__(self, key: tuple[int, int]) -> tuple[tuple[int, int], Any, Any, list[str], str]:
        if self._stream is None:
            files, seed, model_config, mask_spec, synthetic, augmentation = self.recipe
            self._stream = SampleStream(files, seed, model_config, MaskMaker(mask_spec, model_config),
                                        warn=self._messages.append, synthetic=synthetic, augmentation=augmentation)
        try:
            imgs, masks, error = *self._stream.batch(*key), ""
        except TrainError as exc:
            imgs = masks = None
            error = str(exc)
        messages, self._messages[:] = list(self._messages), []
        return key, imgs, masks, messages, error


class _Keys(torch.utils.data.Sampler):
    """The micro-batch keys of one process, in training order."""

    def __init__(self, keys: Callable[[], Iterator[tuple[int, int]]]) -> None:
        self._keys = keys

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return self._keys()


def _worker_started(_worker_id: int) -> None:
    """Ctrl-C reaches the whole process group: the main process decides (it finishes the step and saves)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class TrainBatches:
    """The training batches of one process, in order, through a ``torch.utils.data.DataLoader``.

    Batches are pure functions of their positions, so loading ahead in ``workers`` processes
    changes the time a step takes and nothing else. Each batch is split among the workers (a
    batch is ready as soon as every worker has made its share), then checked whole. Without workers
    the batch is built in line: on a CPU the model already keeps every core busy.

    It replaced a hand-written process pool after ``bench/bench_train.py --loaders`` (commit cb24347,
    tiny model, 2 busy cores) measured both in one run: equal without workers, 1.2x the pool's images/s
    with 2 workers once each batch was split among them (0.7x while each worker made whole batches).
    """

    def __init__(self, stream: SampleStream, keys: Callable[[], Iterator[tuple[int, int]]], workers: int = 0,
                 pin_memory: bool = False) -> None:
        self.warn, self.masks, self.parts = stream.warn, stream.masks, max(1, workers)

        def chunks() -> Iterator[tuple[int, int]]:
            for first, count in keys():
                yield from _split(first, count, self.parts)

        # spawn: forking a process that holds OpenMP or CUDA threads is unsafe.
        loader = torch.utils.data.DataLoader(
            _BatchDataset(stream.recipe()), batch_size=None, sampler=_Keys(chunks), num_workers=workers,
            pin_memory=pin_memory, worker_init_fn=_worker_started if workers else None,
            multiprocessing_context="spawn" if workers else None, prefetch_factor=2 if workers else None)
        self._loader: torch.utils.data.DataLoader | None = loader
        self._batches: Iterator[Any] | None = None

    def next(self, first: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch at stream position ``first`` (it must be the next one in the keys' order; the keys
        are read when the first batch is asked for, so a resumed run's keys start at its step)."""
        if self._batches is None:
            assert self._loader is not None, "closed"
            self._batches = iter(self._loader)
        imgs, masks = [], []
        for want in _split(first, count, self.parts):
            key, part_imgs, part_masks, messages, error = next(self._batches)
            for message in messages:
                self.warn(message)
            if error:
                raise TrainError(error)
            if tuple(key) != want:
                raise RuntimeError(f"data loader out of step: got samples {tuple(key)}, wanted {want}")
            imgs.append(part_imgs)
            masks.append(part_masks)
        if len(masks) == 1:
            return imgs[0], masks[0]
        batch_masks = torch.cat(masks)
        self.masks.check(batch_masks)  # MAE: one hidden count across the parts too
        return torch.cat(imgs), batch_masks

    def close(self) -> None:
        batches, self._batches, self._loader = self._batches, None, None
        shutdown = getattr(batches, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def _split(first: int, count: int, parts: int) -> list[tuple[int, int]]:
    """``(first, count)`` of each worker's share of a batch."""
    size = math.ceil(count / parts)
    return [(start, min(size, first + count - start)) for start in range(first, first + count, size)]


class ValSet:
    """Held-out images with fixed crops and fixed masks, so losses compare across steps.

    Crop 0 of every image is the centre fit; with ``crops > 1`` the others are seeded random crops
    (a tiny folder then still gives enough losses to rank checkpoints). ``unreadable`` lists the
    images the last pass could not decode.
    """

    def __init__(self, files: list[Path], seed: int, model_config: ModelConfig, masks: MaskMaker,
                 crops: int = 1) -> None:
        self.files, self.masks, self.seed, self.crops = files, masks, seed, crops
        self.size, self.mean, self.std = model_config.img_size, model_config.mean, model_config.std
        self.unreadable: list[str] = []

    def __len__(self) -> int:
        return len(self.files)

    def _views(self, i: int) -> Iterator[tuple[torch.Tensor, int]]:
        img = load_image(self.files[i])
        yield to_tensor(fit_to_model(img, self.size), self.mean, self.std), derived_seed(self.seed, _VAL, i)
        for k in range(1, self.crops):
            rng = derived_rng(self.seed, _VAL, i, k)
            left, top, w, h = random_resized_crop_box(img.width, img.height, rng, VAL_CROP_SCALE)
            view = img.resize((self.size, self.size), Image.Resampling.BICUBIC, box=(left, top, left + w, top + h))
            yield to_tensor(view, self.mean, self.std), derived_seed(self.seed, _VAL, i, k)

    def batches(self, batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(images, masks)`` chunks of up to ``batch`` views; unreadable images are left out (and listed)."""
        self.unreadable = []
        imgs: list[torch.Tensor] = []
        seeds: list[int] = []
        for i in range(len(self.files)):
            try:
                views = list(self._views(i))
            except ImageError as exc:
                self.unreadable.append(str(exc))
                continue
            for tensor, mask_seed in views:
                imgs.append(tensor)
                seeds.append(mask_seed)
                if len(imgs) == batch:
                    yield torch.cat(imgs), self.masks.stack(seeds)
                    imgs, seeds = [], []
        if imgs:
            yield torch.cat(imgs), self.masks.stack(seeds)
