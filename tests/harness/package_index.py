"""A private package index for the tests: PEP 503 "simple" pages over a folder of wheels,
served on 127.0.0.1 by ``http.server`` in a thread, optionally behind HTTP basic auth.

``make_wheel`` writes a pure-Python wheel by hand (a zip with METADATA, WHEEL and RECORD), so no
build backend or network is needed. ``PackageIndexServer.requests`` records every request
(method, path, whether its credentials were accepted), to show the installer really came here.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def make_wheel(folder: Path, name: str, version: str, module_source: str) -> Path:
    """A ``py3-none-any`` wheel of a one-module distribution ``name`` (module ``name`` with
    ``_``)."""
    folder.mkdir(parents=True, exist_ok=True)
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}.py": module_source.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\n"
                                 f"Version: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: fairing-tests\n"
                              b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            zf.writestr(info, data)
    return wheel


class PackageIndexServer:
    """``url`` (no credentials), ``auth_url`` (with them) ``/simple/``; ``stop()`` when done."""

    def __init__(self, wheels: Path, user: str = "", password: str = ""):
        self.wheels = Path(wheels)
        self.user, self.password = user, password
        self.requests: list[tuple[str, str, bool]] = []
        self.answer_status: int | None = None  # set to make every request fail with it
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                self.do_GET(method="HEAD")

            def do_GET(self, method="GET"):
                self.method = method
                ok = server._authorized(self.headers.get("Authorization", ""))
                server.requests.append((method, self.path, ok))
                if not ok:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="fairing-tests"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if server.answer_status:
                    self._send(server.answer_status, b"failing on purpose", "text/plain")
                    return
                self._serve(self.path.split("?", 1)[0])

            def _serve(self, path: str):
                parts = [p for p in path.split("/") if p]
                if parts == ["simple"]:
                    names = sorted({_normalize(w.name.split("-")[0])
                                    for w in server.wheels.glob("*.whl")})
                    body = "".join(f'<a href="/simple/{n}/">{n}</a>\n' for n in names)
                    self._send(200, f"<html><body>{body}</body></html>".encode(), "text/html")
                elif len(parts) == 2 and parts[0] == "simple":
                    found = [w for w in sorted(server.wheels.glob("*.whl"))
                             if _normalize(w.name.split("-")[0]) == _normalize(parts[1])]
                    if not found:
                        self._send(404, b"not found", "text/plain")
                        return
                    links = "".join(
                        f'<a href="/files/{html.escape(w.name)}'
                        f'#sha256={hashlib.sha256(w.read_bytes()).hexdigest()}">'
                        f"{html.escape(w.name)}</a>\n" for w in found)
                    self._send(200, f"<html><body>{links}</body></html>".encode(), "text/html")
                elif len(parts) == 2 and parts[0] == "files" \
                        and (server.wheels / parts[1]).is_file():
                    self._send(200, (server.wheels / parts[1]).read_bytes(),
                               "application/octet-stream")
                else:
                    self._send(404, b"not found", "text/plain")

            def _send(self, status: int, body: bytes, content_type: str):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.method != "HEAD":
                    self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="package-index",
                                       daemon=True)
        self.thread.start()

    def _authorized(self, header: str) -> bool:
        if not self.user:
            return True
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return header == expected

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple"

    def url_with(self, user: str, password: str) -> str:
        return f"http://{user}:{password}@127.0.0.1:{self.port}/simple"

    @property
    def auth_url(self) -> str:
        return self.url_with(self.user, self.password)

    def served_files(self) -> list[str]:
        return [path for method, path, ok in self.requests if ok and path.startswith("/files/")]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)
