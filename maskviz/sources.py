"""What a model or image source names, as a path: one torch-free resolver for every layer.

A model source is ``bundled:NAME`` (a model in ``resources/models``), a catalogue name
(``mae-vit-large``, see ``maskviz models``: its copy in the download cache), or a file or folder
(``~`` expanded). An image source is ``sample:NAME`` or a path. Nothing here loads anything or
touches the network: the loaders (:mod:`maskviz.checkpoints`) and the downloader
(:mod:`maskviz.zoo.store`) build on it, it imports neither.

Where a catalogue entry lives once fetched is answered here too (the downloader writes there):

* ``url`` and ``manual`` entries: ``<cache dir>/models/NAME/FILE`` (``$MASKVIZ_CACHE``);
* ``hub`` entries: huggingface_hub's cache, or the same files put by hand in ``<cache dir>/models/NAME``;
* ``bundled`` entries: ``resources/models``.
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path

from maskviz import bundled
from maskviz.bundled import MODEL_PREFIX, SAMPLE_PREFIX
from maskviz.errors import CheckpointError
from maskviz.paths import cache_dir, config_dir
from maskviz.zoo.catalogue import SIMMIM_README, ModelEntry, find_entry

__all__ = [
    "MODEL_PREFIX", "SAMPLE_PREFIX", "cached_path", "entry_folder", "image_path", "manual_instructions", "model_path",
    "models_dir", "resolve_name", "url_target",
]

MIRROR_ENV = "MASKVIZ_MODEL_MIRROR"
HUB_REQUIRED = ("config.json",)
HUB_OPTIONAL = ("preprocessor_config.json",)


def model_path(source: str | os.PathLike) -> Path:
    """A model source as a path: ``bundled:simmim_small`` → the bundled file, a catalogue name
    (``mae-vit-large``) → its cached copy, anything else → ``~`` expanded.

    Raises ``CheckpointError`` for an unknown bundled name and for a catalogue model that is not
    downloaded yet (saying how to get it). A path that does not exist is returned as it is: the
    loader explains what is wrong with it.
    """
    source = str(source)
    if source.startswith(MODEL_PREFIX):
        name, models = source[len(MODEL_PREFIX):], bundled.bundled_model_paths()
        if name not in models:
            raise CheckpointError(f"no bundled model named {name!r}; bundled: {', '.join(models) or 'none installed'}")
        return models[name]
    path = Path(source).expanduser()
    if os.path.lexists(path):  # never raises: an unreadable path is the loader's to explain
        return path
    return resolve_name(source) or path


def image_path(source: str | os.PathLike) -> Path:
    """An image source as a path: ``sample:coffee`` → the bundled photo, anything else → ``~`` expanded."""
    return bundled.resolve_sample(str(source)) or Path(source).expanduser()


# --- catalogue entries on this machine --------------------------------------------------------------


def models_dir() -> Path:
    return cache_dir() / "models"


def entry_folder(entry: ModelEntry) -> Path:
    """Where a url/manual entry's file lives, and where a hub folder may be put by hand."""
    return models_dir() / entry.name


def url_target(entry: ModelEntry) -> Path:
    return entry_folder(entry) / entry.filename


def cached_path(entry: ModelEntry) -> Path | None:
    """The file or folder to load, if it is on this machine; never touches the network."""
    if entry.source == "bundled":
        return bundled.bundled_model_paths().get(entry.name)
    if entry.source == "hub":
        return _manual_hub_folder(entry) or _hub_cached_folder(entry)
    target = url_target(entry)
    return target if target.is_file() else None


def resolve_name(name: str) -> Path | None:
    """A catalogue name → its cached file or folder; None when ``name`` is not in the catalogue.

    Raises ``CheckpointError`` for a known model that is not here yet, saying how to get it.
    """
    entry = find_entry(name)
    if entry is None:
        return None
    path = cached_path(entry)
    if path is None:
        if entry.source == "manual" and mirror_setting() is None:  # a mirror can serve even Drive files
            raise CheckpointError(manual_instructions(entry))
        raise CheckpointError(
            f"model {name!r} is not downloaded yet: run 'maskviz models download {name}' "
            "(or File → Get models… in the app)"
        )
    return path


def mirror_setting() -> tuple[str, str] | None:
    """(value, where it is set) of the model mirror, unchecked: ``$MASKVIZ_MODEL_MIRROR``, else ``mirror``
    in the ``[models]`` section of the config dir's ``maskviz.ini``; None when neither sets one."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    if value:
        return value, MIRROR_ENV
    settings = config_dir() / "maskviz.ini"
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(settings, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return None  # the app's own settings file, unreadable as INI: it sets no mirror
    value = parser.get("models", "mirror", fallback="").strip().strip('"')
    return (value, f"mirror in {settings}") if value else None


def manual_instructions(entry: ModelEntry) -> str:
    return (f"{entry.name} is only on Google Drive: download {entry.filename} from {entry.page} "
            f"(list: {SIMMIM_README}) and put it at {url_target(entry)}")


def _manual_hub_folder(entry: ModelEntry) -> Path | None:
    folder = entry_folder(entry)
    weights = [f for f in entry.files if f not in HUB_REQUIRED + HUB_OPTIONAL]
    return folder if all((folder / f).is_file() for f in (*HUB_REQUIRED, *weights)) else None


def _hub_cached_folder(entry: ModelEntry) -> Path | None:
    from huggingface_hub import try_to_load_from_cache  # its cache layout; imported only for hub entries

    found = []
    for name in entry.files:
        if name in HUB_OPTIONAL:
            continue
        path = try_to_load_from_cache(entry.repo_id, name)
        if not isinstance(path, str):
            return None
        found.append(Path(path).parent)
    return found[0] if found and all(f == found[0] for f in found) else None
