"""The two loopback servers of a benchmark, each in a process of its own.

Separate processes keep their CPU out of the bridge's figures, and let us read their own cost:
the feed server reports it; mastodon-mock's is read from ``/proc/PID/stat``. Requests to
mastodon-mock are counted from its access log (one line per request).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from measure import run_quiet

BENCH = Path(__file__).resolve().parent
MOCK_TOKEN = "mock_token"  # mastodon-mock's seeded test account; not a credential
START_TIMEOUT = 60.0
_ACCESS_LINE = re.compile(r'"(GET|POST|PUT|PATCH|DELETE) (\S+) HTTP/1\.[01]" (\d{3})')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU of a running process, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def _stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


class Certificates:
    """A throw-away CA and a certificate for 127.0.0.1 it signed (RSA 2048, as most websites
    use), plus a CA bundle: the system's roots and this CA, so that the bridge loads a bundle
    of realistic size (give its path as SSL_CERT_FILE)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.ca, self.cert, self.key = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
        self.bundle = folder / "bundle.pem"
        ca_key, request, extensions = folder / "ca.key", folder / "cert.csr", folder / "san.cnf"
        extensions.write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
        openssl = ["openssl"]
        run_quiet(
            [
                *openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=fedibridge bench CA",
                "-keyout",
                str(ca_key),
                "-out",
                str(self.ca),
            ]
        )
        run_quiet(
            [
                *openssl,
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                str(self.key),
                "-out",
                str(request),
            ]
        )
        run_quiet(
            [
                *openssl,
                "x509",
                "-req",
                "-in",
                str(request),
                "-CA",
                str(self.ca),
                "-CAkey",
                str(ca_key),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                str(extensions),
                "-out",
                str(self.cert),
            ]
        )
        system = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))
        roots = system.read_text() if system.is_file() else ""
        self.bundle.write_text(roots + self.ca.read_text())


class FeedServer:
    """``bench/feedserver.py`` in a child process.

    ``port_per_feed`` makes every feed a separate website to the client (its own port, so its
    own connection); ``tls`` serves HTTPS with those certificates.
    """

    def __init__(
        self,
        feeds: int,
        items: int = 20,
        window: int = 0,
        *,
        port_per_feed: bool = False,
        tls: Certificates | None = None,
    ) -> None:
        argv = [
            sys.executable,
            str(BENCH / "feedserver.py"),
            f"--feeds={feeds}",
            f"--items={items}",
            f"--window={window}",
        ]
        if port_per_feed:
            argv.append("--port-per-feed")
        if tls is not None:
            argv += ["--tls", str(tls.cert), str(tls.key)]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        # The server prints READY only after it has generated every feed; readline blocks
        # until then, or returns "" if the process died.
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            _stop(self.process)
            raise RuntimeError(f"feed server did not start: {line!r}")
        self.ports: list[int] = json.loads(line.removeprefix("READY "))
        scheme = "https" if tls is not None else "http"
        self._origins = [f"{scheme}://127.0.0.1:{port}" for port in self.ports]
        self.feeds = feeds
        self._http = httpx.Client(
            base_url=self._origins[0], timeout=30, verify=str(tls.ca) if tls else True
        )

    def url(self, index: int) -> str:
        return f"{self._origins[index % len(self._origins)]}/feeds/{index}.xml"

    def add(
        self, *, feeds: list[int] | None = None, step: int | None = None, items: int = 1
    ) -> None:
        """Publish ``items`` new items in the given feeds (or in every ``step``-th feed)."""
        params: dict[str, str | int] = {"items": items}
        if step is not None:
            params["step"] = step
        else:
            params["feeds"] = ",".join(map(str, feeds or []))
        self._http.post("/_ctl/add", params=params).raise_for_status()

    def size(self, index: int) -> tuple[int, int]:
        """Bytes of feed ``index``: the document, and the gzip-compressed answer."""
        response = self._http.get(f"/feeds/{index}.xml")
        return len(response.content), int(response.headers["Content-Length"])

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = self._http.get("/_ctl/stats").json()
        return data

    def reset(self) -> None:
        self._http.post("/_ctl/reset").raise_for_status()

    def close(self) -> None:
        self._http.close()
        _stop(self.process)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class MastodonServer:
    """``mastodon_mock serve --in-memory`` in a child process, its access log in a file."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "mastodon-mock.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mastodon_mock",
                "serve",
                "--in-memory",
                "--host=127.0.0.1",
                f"--port={self.port}",
                "--log-level=info",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
        self._http = httpx.Client(
            base_url=self.url, timeout=30, headers={"Authorization": f"Bearer {MOCK_TOKEN}"}
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if self._http.get("/api/v1/instance").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"mastodon-mock did not start; see {self.log_path}")
            time.sleep(0.1)
        self._log_mark = 0

    def mark(self) -> None:
        """Count requests from here on (see ``requests``)."""
        self._log_mark = self.log_path.stat().st_size

    def requests(self) -> Counter[str]:
        """Requests since ``mark()``, as "METHOD /path STATUS" → count. Read before asking the
        server anything yourself: those requests would be counted too."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_mark)
            text = log.read().decode("utf-8", "replace")
        found: Counter[str] = Counter()
        for method, path, status in _ACCESS_LINE.findall(text):
            found[f"{method} {path.split('?')[0]} {status}"] += 1
        return found

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def statuses_count(self) -> int:
        account = self._http.get("/api/v1/accounts/verify_credentials").json()
        return int(account["statuses_count"])

    def fault(self, path: str, status: int) -> None:
        """Answer every POST to ``path`` with ``status`` until ``clear_faults``."""
        rule = {
            "match": {"path": path, "methods": ["POST"]},
            "effect": {"type": "status", "status": status},
        }
        self._http.post("/api/v1/_mock/faults", json=rule).raise_for_status()

    def clear_faults(self) -> None:
        self._http.delete("/api/v1/_mock/faults").raise_for_status()

    def close(self) -> None:
        self._http.close()
        _stop(self.process)
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
