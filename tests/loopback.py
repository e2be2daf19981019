"""A throw-away HTTP server on 127.0.0.1 for download tests: plain files (with Range) and the few
Hugging Face hub routes ``hf_hub_download`` uses (HEAD/GET ``/{repo}/resolve/{revision}/{file}``)."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567"


class Loopback:
    """``files`` maps URL paths to bytes. ``cut_after`` makes the next GET of a path stop after that
    many bytes (the connection closes mid-file); ``stall_after`` pauses it there until ``release``.
    ``ranges`` logs the Range header of every GET."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}
        self.stall_after: dict[str, int] = {}  # send this many bytes, then wait for ``release``
        self.release = threading.Event()
        self.ranges: list[str | None] = []
        self.requests: list[tuple[str, str]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        loop = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
                self._serve(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(body=True)

            def _serve(self, body: bool) -> None:
                loop.requests.append((self.command, self.path))
                hub = re.fullmatch(r"/(.+)/resolve/[^/]+/(.+)", self.path)
                data = loop.files.get(self.path)
                if data is None:
                    self.send_response(404)
                    if hub:
                        self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                if body:
                    loop.ranges.append(self.headers.get("Range"))
                    m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                    start = int(m.group(1)) if m else 0
                if start >= len(data) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                if hub:
                    self.send_header("X-Repo-Commit", HUB_COMMIT)
                    self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
                self.end_headers()
                if not body:
                    return
                end = len(data)
                if self.path in loop.cut_after:
                    end = start + loop.cut_after.pop(self.path)
                stall = loop.stall_after.pop(self.path, None)
                if stall is not None:
                    self.wfile.write(data[start:start + stall])
                    self.wfile.flush()
                    loop.release.wait(30)
                    start += stall
                self.wfile.write(data[start:end])
                self.wfile.flush()
                if end < len(data):
                    self.close_connection = True

        return Handler
