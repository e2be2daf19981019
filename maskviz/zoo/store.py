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
* A mirror (``$MASKVIZ_MODEL_MIRROR``, or ``mirror`` in the ``[models]`` section of the config dir's
  ``maskviz.ini``) replaces every source: each file comes from ``MIRROR/NAME/FILE``, the layout of
  ``<cache dir>/models``, through the same resuming, verifying fetch as a plain URL. A plain
  ``python -m http.server`` in a folder of such files is a mirror.

Offline, a download fails within seconds with one line: before any transfer, a TCP connection to the
server (or to the proxy for it) must open within :data:`REACH_TIMEOUT_S`. The line lists every file
the entry needs and where to put each by hand. ``huggingface_hub``'s own retries and their log lines
never run or show for an unreachable hub.

Progress is reported through ``progress(done_bytes, total_bytes | None, label)``; ``cancelled()``
is polled between chunks and stops the transfer (the partial file stays, to be resumed). What
"loads strictly" means is the caller's ``verify(path)`` (``maskviz.checkpoints.load_model``): this
module imports no loader.
"""

from __future__ import annotations

import http.client
import inspect
import logging
import os
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from maskviz.bundled import bundled_model_paths
from maskviz.errors import CheckpointError, MaskvizError

# Where entries live on this machine is the torch-free resolver's (imported here for their old home).
from maskviz.sources import (  # noqa: F401 - HUB_REQUIRED & co. re-exported for callers of maskviz.zoo.store
    HUB_OPTIONAL,
    HUB_REQUIRED,
    MIRROR_ENV,
    cached_path,
    entry_folder,
    manual_instructions,
    mirror_setting,
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
TIMEOUT_S = 30  # a transfer that stalls this long fails (and resumes on the next attempt)
REACH_TIMEOUT_S = 2.5  # to open a connection to the server before anything else


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
    if mirror() is not None:
        if entry.source == "hub":
            return _download_hub_from_mirror(entry, progress, cancelled, verify)
        return download_url(entry, progress, cancelled, verify=verify)
    if entry.source == "manual":
        raise DownloadError(manual_instructions(entry))
    if entry.source == "hub":
        return _download_hub(entry, progress, cancelled, endpoint, verify)
    return download_url(entry, progress, cancelled, verify=verify)


def can_download(entry: ModelEntry) -> bool:
    """Whether a program can fetch the entry here: url and hub entries, and any entry from a mirror."""
    if entry.source in ("url", "hub"):
        return True
    try:
        return entry.source == "manual" and mirror() is not None
    except DownloadError:  # a mirror setting that is not a URL: the download itself says so
        return False


# --- where files come from ----------------------------------------------------------------------


def mirror() -> tuple[str, str] | None:
    """(base URL, where it is set) of the model mirror (see :func:`maskviz.sources.mirror_setting`)."""
    found = mirror_setting()
    return None if found is None else _checked_mirror(*found)


def _checked_mirror(value: str, where: str) -> tuple[str, str]:
    if urllib.parse.urlsplit(value).scheme not in ("http", "https"):
        raise DownloadError(f"the model mirror must be an http:// or https:// URL, not {value!r} ({where}); "
                            "for a folder, serve it with 'python -m http.server'")
    return value.rstrip("/"), where


def file_url(entry: ModelEntry, name: str, endpoint: str | None = None) -> str:
    """Where ``name`` of ``entry`` is fetched from: the mirror's ``NAME/FILE``, else the catalogue's source."""
    found = mirror()
    if found is not None:
        return f"{found[0]}/{urllib.parse.quote(entry.name)}/{urllib.parse.quote(name)}"
    if entry.source == "hub":
        return f"{_hub_base(entry, endpoint)}{name}"
    return entry.url


def by_hand(entry: ModelEntry, endpoint: str | None = None) -> str:
    """How to get the entry's files without maskviz fetching them: every file, where from, where to."""
    if entry.source == "manual":
        return f"download {entry.filename} from {entry.page} and put it at {url_target(entry)}"
    if entry.source == "hub":
        required = [f for f in entry.files if f not in HUB_OPTIONAL]
        optional = [f for f in entry.files if f in HUB_OPTIONAL]
        files = " and ".join(required) + (f" (and {', '.join(optional)} if it is there)" if optional else "")
        return f"put {files} from {_hub_base(entry, endpoint)} into {entry_folder(entry)}{os.sep}"
    return f"download {entry.url} and put it at {url_target(entry)}"


def _hub_base(entry: ModelEntry, endpoint: str | None) -> str:
    from huggingface_hub import constants

    return f"{(endpoint or constants.ENDPOINT).rstrip('/')}/{entry.repo_id}/resolve/main/"


# --- can the server be reached at all? ----------------------------------------------------------


def unreachable(url: str, timeout: float = REACH_TIMEOUT_S) -> tuple[str, str] | None:
    """(server, why) when no connection to ``url``'s server (or the proxy for it) opens within ``timeout``.

    On a thread, so that a name lookup that hangs (a network without a working DNS server) costs
    ``timeout`` too, not the resolver's own half a minute.
    """
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    server = host if parts.port is None else f"{host}:{port}"
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxy_parts.hostname or "", proxy_parts.port or 80
        server = f"the proxy {host}:{port} (for {server})"
    outcome: list[BaseException | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=connect, name="maskviz-reach", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        return server, f"no answer within {timeout:g} s"
    return None if outcome[0] is None else (server, _why(outcome[0], timeout))


def _why(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, socket.gaierror):
        return f"no network, or no such host: {exc.strerror or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused: nothing listens there"
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return str(getattr(exc, "strerror", None) or exc)


def _check_reachable(entry: ModelEntry, url: str, endpoint: str | None = None) -> None:
    problem = unreachable(url)
    if problem is None:
        return
    server, why = problem
    found = mirror()
    if found is not None:
        what, other = f"the model mirror {server} ({why}; set by {found[1]})", ""
    else:
        what, other = f"{server} ({why})", f", or set {MIRROR_ENV} to a mirror"
    raise DownloadError(f"cannot reach {what}; to get {entry.name} by hand, {by_hand(entry, endpoint)}{other}")


# --- plain URLs ---------------------------------------------------------------------------------


def partial_path(entry: ModelEntry) -> Path:
    """Hidden, and with the real suffix so the strict load can read it before it is renamed."""
    target = url_target(entry)
    return target.with_name(f".{target.stem}.partial{target.suffix}")


def download_url(entry: ModelEntry, progress: Progress | None = None, cancelled: Cancelled | None = None, *,
                 verify: Verify) -> Path:
    """One file (a url entry, or any single-file entry from the mirror): fetch, verify, place."""
    target, partial = url_target(entry), partial_path(entry)
    url = file_url(entry, entry.filename)
    _check_reachable(entry, url)
    _make_folder(target.parent)
    expected = entry.size_bytes if entry.size_exact else None
    total = _transfer(entry, url, partial, entry.name, expected, progress, cancelled)
    _verify_and_place(entry, partial, target, total, verify)
    return target


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create {folder}: {exc.strerror or exc}") from exc


def _transfer(entry: ModelEntry, url: str, partial: Path, label: str, expected: int | None,
              progress: Progress | None, cancelled: Cancelled | None) -> int:
    """Bring ``partial`` up to the whole file; every failure becomes a one-line ``DownloadError``.

    What arrived is kept when the connection failed (the next attempt resumes it), and thrown away
    when the file is wrong or could not be written.
    """
    try:
        return _fetch(url, partial, label, expected, progress or _quiet, cancelled or _never)
    except DownloadCancelled:
        raise
    except DownloadError:
        _discard(partial)
        raise
    except (_Interrupted, http.client.IncompleteRead) as exc:
        raise DownloadError(
            f"download of {label} interrupted ({exc}); run it again to resume from {format_size(_size(partial))}"
        ) from exc
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        if not _size(partial):
            _discard(partial)  # nothing fetched: leave no empty folder behind
        raise DownloadError(_offline_message(entry, url, exc)) from exc
    except OSError as exc:  # disk full, permissions: the partial file cannot be trusted
        _discard(partial)
        raise DownloadError(f"could not write {partial}: {exc.strerror or exc}") from exc


class _Missing(DownloadError):
    """The server answered that it has no such file (HTTP 404 or 410)."""


def _fetch(url: str, partial: Path, label: str, expected: int | None, progress: Progress,
           cancelled: Cancelled) -> int:
    """Append the missing bytes to ``partial``; return the file's full size."""
    have = _size(partial)
    request = urllib.request.Request(url, headers={"User-Agent": "maskviz"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - https/http only
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the partial file is complete (or wrong)
            return have
        error = _Missing if exc.code in (404, 410) else DownloadError
        found = mirror()
        where = f" (the model mirror, {found[1]})" if found else ""
        raise error(f"{url} answered HTTP {exc.code} ({exc.reason}){where}") from exc
    with response:
        resumed = response.status == 206
        total = _announced_total(response, have if resumed else 0)
        _check_total(url, expected, total)
        done = have if resumed else 0
        with open(partial, "ab" if resumed else "wb") as out:
            progress(done, total, label)
            while chunk := response.read1(CHUNK):  # what has arrived: Cancel is seen promptly
                if cancelled():
                    raise DownloadCancelled(f"download of {label} cancelled ({format_size(done)} kept)")
                done += len(chunk)
                if total is not None and done > total:
                    raise DownloadError(f"{url} sent more than the {total:,} bytes it announced")
                out.write(chunk)
                progress(done, total, label)
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


def _check_total(url: str, expected: int | None, total: int | None) -> None:
    if expected is not None and total is not None and total != expected:
        raise DownloadError(
            f"{url} is {total:,} bytes, the catalogue expects {expected:,}: refusing it (changed or wrong file)"
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


def _offline_message(entry: ModelEntry, url: str, exc: BaseException, endpoint: str | None = None) -> str:
    reason = getattr(exc, "reason", None) or exc
    return f"cannot download {url} ({reason}); to get {entry.name} by hand, {by_hand(entry, endpoint)}"


# --- Hugging Face hub ---------------------------------------------------------------------------


def _download_hub(entry: ModelEntry, progress: Progress | None, cancelled: Cancelled | None,
                  endpoint: str | None, verify: Verify) -> Path:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    if not constants.HF_HUB_OFFLINE:  # offline mode fails at once by itself; an unreachable hub would retry
        _check_reachable(entry, _hub_base(entry, endpoint), endpoint)
    bar = _progress_bar_class(progress or _quiet, cancelled or _never)
    # Older huggingface_hub releases take no tqdm_class: they download without progress or Cancel.
    extra = {"tqdm_class": bar} if "tqdm_class" in inspect.signature(hf_hub_download).parameters else {}
    folder: Path | None = None
    for name in entry.files:
        bar.label = f"{entry.name}: {name}"
        try:
            with _hub_logging_quiet():
                path = Path(hf_hub_download(entry.repo_id, name, endpoint=endpoint, **extra))
        except LocalEntryNotFoundError as exc:  # offline mode, or the hub went away since the check
            if name in HUB_OPTIONAL:
                continue
            raise DownloadError(_offline_message(entry, _hub_base(entry, endpoint) + name, _cause(exc),
                                                 endpoint)) from exc
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


@contextmanager
def _hub_logging_quiet() -> Iterator[None]:
    """huggingface_hub logs each retry as a warning; maskviz says what went wrong once, itself."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _download_hub_from_mirror(entry: ModelEntry, progress: Progress | None, cancelled: Cancelled | None,
                              verify: Verify) -> Path:
    """A hub entry's files from the mirror into ``<cache>/models/NAME`` (where files put by hand go).

    They arrive in a hidden ``.partial`` folder, which must load strictly before its files move in,
    config.json last: a folder is only ever taken for a model once it is complete and verified.
    """
    folder = entry_folder(entry)
    staging = folder / ".partial"
    _check_reachable(entry, file_url(entry, entry.files[0]))
    _make_folder(staging)
    arrived = []
    for name in entry.files:
        label = f"{entry.name}: {name}"
        try:
            _transfer(entry, file_url(entry, name), staging / name, label, None, progress, cancelled)
        except _Missing:
            if name in HUB_OPTIONAL:
                continue
            raise
        arrived.append(name)
    try:
        verify(staging)
    except CheckpointError as exc:
        for name in arrived:
            _discard(staging / name)
        raise DownloadError(f"{entry.name}: the files from the mirror do not load ({exc}); nothing was kept") from exc
    for name in sorted(arrived, key=lambda n: n in HUB_REQUIRED):  # config.json last
        os.replace(staging / name, folder / name)
    staging.rmdir()
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
