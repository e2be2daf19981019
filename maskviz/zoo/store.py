"""Fetch catalogue models into the cache and find them there again, without network once fetched.

* ``url`` entries stream into ``<cache dir>/models/NAME/FILE`` (``$MASKVIZ_CACHE``): the bytes go
  to a hidden partial file that a later attempt resumes with an HTTP Range request; the size must
  be what the server announced (and what the catalogue says, where it knows exactly); the file
  must then load strictly; only then is it renamed into place. A file in place is therefore a
  verified one.
* ``hub`` entries go through ``huggingface_hub`` (its cache, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT``),
  then load strictly once. A folder with the same files put by hand in ``<cache dir>/models/NAME``
  works too, for machines without access to the hub.
* ``manual`` entries (Google Drive) cannot be fetched by a program: the error says where to
  download the file and where to put it.

Progress is reported through ``progress(done_bytes, total_bytes | None, label)``; ``cancelled()``
is polled between chunks and stops the transfer (the partial file stays, to be resumed). What
"loads strictly" means is the caller's ``verify(path)`` (``maskviz.checkpoints.load_model``): this
module imports no loader.
"""

from __future__ import annotations

import http.client
import inspect
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from maskviz.bundled import bundled_model_paths
from maskviz.errors import CheckpointError, MaskvizError

# Where entries live on this machine is the torch-free resolver's (imported here for their old home).
from maskviz.sources import (  # noqa: F401 - HUB_REQUIRED & co. re-exported for callers of maskviz.zoo.store
    HUB_OPTIONAL,
    HUB_REQUIRED,
    cached_path,
    entry_folder,
    manual_instructions,
    models_dir,
    resolve_name,
    url_target,
)
from maskviz.zoo.catalogue import ModelEntry, format_size

Progress = Callable[[int, "int | None", str], None]
Cancelled = Callable[[], bool]
#: Loads a downloaded file or folder strictly, raising ``CheckpointError`` when it does not load.
Verify = Callable[[Path], object]
CHUNK = 1 << 20
TIMEOUT_S = 30


class DownloadError(MaskvizError):
    """A model that could not be fetched or verified; the message says what to do."""


class DownloadCancelled(DownloadError):
    """The user stopped a download; what was fetched is kept for the next attempt."""


def entry_size(entry: ModelEntry) -> tuple[int, bool]:
    """(bytes, exact): bundled files are measured, the rest come from the catalogue."""
    if entry.source == "bundled":
        path = bundled_model_paths().get(entry.name)
        return (path.stat().st_size, True) if path else (0, False)
    return entry.size_bytes, entry.size_exact


def download(
    entry: ModelEntry, progress: Progress | None = None, cancelled: Cancelled | None = None,
    endpoint: str | None = None, *, verify: Verify,
) -> Path:
    """Make the entry available locally and return what to load (a no-op when it already is).

    A new download is put in place only once ``verify(path)`` has loaded it.
    """
    cached = cached_path(entry)
    if cached is not None:
        return cached
    if entry.source == "bundled":
        raise DownloadError(f"bundled model {entry.name} is not installed (reinstall maskviz)")
    if entry.source == "manual":
        raise DownloadError(manual_instructions(entry))
    if entry.source == "hub":
        return _download_hub(entry, progress, cancelled, endpoint, verify)
    return download_url(entry, progress, cancelled, verify=verify)


# --- plain URLs ---------------------------------------------------------------------------------


def partial_path(entry: ModelEntry) -> Path:
    """Hidden, and with the real suffix so the strict load can read it before it is renamed."""
    target = url_target(entry)
    return target.with_name(f".{target.stem}.partial{target.suffix}")


def download_url(entry: ModelEntry, progress: Progress | None = None, cancelled: Cancelled | None = None, *,
                 verify: Verify) -> Path:
    target, partial = url_target(entry), partial_path(entry)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {target.parent}: {exc.strerror or exc}") from exc
    try:
        total = _fetch(entry, partial, progress or _quiet, cancelled or _never)
    except DownloadCancelled:
        raise
    except DownloadError:
        _discard(partial)
        raise
    except (_Interrupted, http.client.IncompleteRead) as exc:
        raise DownloadError(
            f"download of {entry.name} interrupted ({exc}); run it again to resume from {format_size(_size(partial))}"
        ) from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        if not _size(partial):
            _discard(partial)  # nothing fetched: leave no empty folder behind
        raise DownloadError(_offline_message(entry.url, target, exc)) from exc
    except OSError as exc:  # disk full, permissions: the partial file cannot be trusted
        _discard(partial)
        raise DownloadError(f"could not write {partial}: {exc.strerror or exc}") from exc
    _verify_and_place(entry, partial, target, total, verify)
    return target


def _fetch(entry: ModelEntry, partial: Path, progress: Progress, cancelled: Cancelled) -> int:
    """Append the missing bytes to ``partial``; return the file's full size."""
    have = _size(partial)
    request = urllib.request.Request(entry.url, headers={"User-Agent": "maskviz"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - https/http only
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the partial file is complete (or wrong)
            return have
        raise DownloadError(f"{entry.url} answered HTTP {exc.code} ({exc.reason})") from exc
    with response:
        resumed = response.status == 206
        total = _announced_total(response, have if resumed else 0)
        _check_total(entry, total)
        done = have if resumed else 0
        with open(partial, "ab" if resumed else "wb") as out:
            progress(done, total, entry.name)
            while chunk := response.read1(CHUNK):  # what has arrived: Cancel is seen promptly
                if cancelled():
                    raise DownloadCancelled(f"download of {entry.name} cancelled ({format_size(done)} kept)")
                done += len(chunk)
                if total is not None and done > total:
                    raise DownloadError(f"{entry.url} sent more than the {total:,} bytes it announced")
                out.write(chunk)
                progress(done, total, entry.name)
    if total is not None and done < total:
        raise _Interrupted(f"connection closed after {done:,} of {total:,} bytes")
    return done


class _Interrupted(ConnectionError):
    """The server closed the connection before the announced end of the file."""


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _announced_total(response, offset: int) -> int | None:  # noqa: ANN001 - http.client.HTTPResponse
    content_range = response.headers.get("Content-Range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return offset + int(length) if length is not None else None


def _check_total(entry: ModelEntry, total: int | None) -> None:
    if entry.size_exact and total is not None and total != entry.size_bytes:
        raise DownloadError(
            f"{entry.url} is {total:,} bytes, the catalogue expects {entry.size_bytes:,}: refusing it "
            "(changed or wrong file)"
        )


def _verify_and_place(entry: ModelEntry, partial: Path, target: Path, total: int, verify: Verify) -> None:
    """Size, then a strict load, then the atomic rename: only a verified file is ever in place."""
    size = partial.stat().st_size
    if size != total or (entry.size_exact and size != entry.size_bytes):
        _discard(partial)
        expected = entry.size_bytes if entry.size_exact else total
        raise DownloadError(f"{entry.name}: got {size:,} bytes, expected {expected:,}; nothing was kept")
    try:
        verify(partial)
    except CheckpointError as exc:
        _discard(partial)
        raise DownloadError(f"{entry.name}: the downloaded file does not load ({exc}); nothing was kept") from exc
    from maskviz.fileio import atomic_write

    atomic_write(target, lambda tmp: os.replace(partial, tmp), error=DownloadError)


def _discard(partial: Path) -> None:
    partial.unlink(missing_ok=True)
    try:
        partial.parent.rmdir()  # only succeeds when nothing else is in the entry's folder
    except OSError:
        pass


def _offline_message(url: str, target: Path, exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"cannot download {url} ({reason}); fetch it by hand and put it at {target}"


# --- Hugging Face hub ---------------------------------------------------------------------------


def _download_hub(entry: ModelEntry, progress: Progress | None, cancelled: Cancelled | None,
                  endpoint: str | None, verify: Verify) -> Path:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    bar = _progress_bar_class(progress or _quiet, cancelled or _never)
    # Older huggingface_hub releases take no tqdm_class: they download without progress or Cancel.
    extra = {"tqdm_class": bar} if "tqdm_class" in inspect.signature(hf_hub_download).parameters else {}
    folder: Path | None = None
    for name in entry.files:
        bar.label = f"{entry.name}: {name}"
        try:
            path = Path(hf_hub_download(entry.repo_id, name, endpoint=endpoint, **extra))
        except LocalEntryNotFoundError as exc:  # offline mode, or the hub cannot be reached
            if name in HUB_OPTIONAL:
                continue
            url = f"{endpoint or constants.ENDPOINT}/{entry.repo_id}/resolve/main/{name}"
            raise DownloadError(_offline_message(url, entry_folder(entry) / name, _cause(exc))) from exc
        except EntryNotFoundError:  # the server answered: no such file
            if name in HUB_OPTIONAL:
                continue
            raise DownloadError(f"{entry.repo_id} has no {name} (the repository changed?)") from None
        except DownloadCancelled:
            raise
        except (OSError, ValueError) as exc:  # HTTP errors of huggingface_hub are OSErrors
            raise DownloadError(f"{entry.repo_id}/{name}: {str(exc).splitlines()[0]}") from exc
        folder = folder or path.parent
    assert folder is not None  # config.json is required
    try:
        verify(folder)
    except CheckpointError as exc:
        raise DownloadError(f"{entry.name}: the downloaded folder {folder} does not load ({exc})") from exc
    return folder


def _cause(exc: BaseException) -> BaseException:
    """huggingface_hub wraps the network error; show the innermost reason, or 'offline mode'."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return RuntimeError("HF_HUB_OFFLINE is set")
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _progress_bar_class(progress: Progress, cancelled: Cancelled) -> type:
    """A tqdm that reports to ``progress`` and stops the hub's transfer when ``cancelled()``."""
    from tqdm.auto import tqdm

    class Bar(tqdm):
        label = ""

        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003 - tqdm's signature
            kwargs["disable"] = True  # the caller draws its own progress
            super().__init__(*args, **kwargs)
            self._done = int(kwargs.get("initial") or 0)
            self._total = kwargs.get("total")

        def update(self, n: float | None = 1) -> bool | None:
            if cancelled():
                raise DownloadCancelled(f"download of {Bar.label} cancelled")
            self._done += int(n or 0)
            progress(self._done, self._total, Bar.label)
            return None

    return Bar


# --- helpers ------------------------------------------------------------------------------------


def _quiet(done: int, total: int | None, label: str) -> None:
    return None


def _never() -> bool:
    return False
