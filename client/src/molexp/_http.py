"""HTTP access to a MolExp server: settings, credentials and one-line errors."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import requests

DEFAULT_TIMEOUT = 30.0


class MolExpError(Exception):
    """A request failed; the message is one line fit for a terminal."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(MolExpError):
    """The server could not be reached or answered 5xx/429: the same request may work later."""


def config_dir() -> Path:
    base = os.environ.get("MOLEXP_CONFIG_DIR") or os.path.join(
        os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "molexp"
    )
    return Path(base)


def credentials_path() -> Path:
    return config_dir() / "credentials.json"


def credentials_load() -> dict[str, str]:
    path = credentials_path()
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def credentials_save(url: str, token: str, username: str = "") -> Path:
    """Write the credentials file readable by the owner only (0600), atomically."""
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"url": url, "token": token, "username": username}, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip().splitlines()[0][:300] if response.text else ""
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        return "; ".join(f"{k}: {v if not isinstance(v, list) else ' '.join(map(str, v))}" for k, v in body.items())
    return str(body)[:300]


class Http:
    """A requests session bound to one server and token."""

    def __init__(self, url: str, token: str = "", timeout: float = DEFAULT_TIMEOUT) -> None:
        if not url:
            raise MolExpError("No server: set MOLEXP_URL, pass Client(url=…), or run `molexp login`.")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["User-Agent"] = "molexp-client/0.1"
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def absolute(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.url}{path}"

    def request(
        self, method: str, path: str, *, expect: tuple[int, ...] = (200, 201, 204), raw: bool = False, **kwargs: Any
    ) -> Any:
        """The answer's JSON (or bytes, or None); with ``raw`` the ``requests.Response`` itself (for its headers)."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.absolute(path), **kwargs)
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach {self.url}: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError(
                f"{method} {path}: HTTP {response.status_code} {_detail(response)}", response.status_code
            )
        if response.status_code not in expect:
            raise MolExpError(
                f"{method} {path}: HTTP {response.status_code}: {_detail(response)}", response.status_code
            )
        if raw:
            return response
        if response.status_code == 204 or not response.content:
            return None
        if "json" in response.headers.get("Content-Type", ""):
            return response.json()
        return response.content

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def download(self, path: str, dest: Path) -> Path:
        """Stream ``path`` to ``dest`` (atomically)."""
        tmp = dest.with_name(dest.name + ".part")
        try:
            with self.session.get(self.absolute(path), stream=True, timeout=self.timeout) as response:
                if response.status_code != 200:
                    raise MolExpError(
                        f"GET {path}: HTTP {response.status_code}: {_detail(response)}", response.status_code
                    )
                with open(tmp, "wb") as fh:
                    for chunk in response.iter_content(1024 * 1024):
                        fh.write(chunk)
        except requests.RequestException as exc:
            raise TransientError(f"cannot reach {self.url}: {type(exc).__name__}") from None
        os.replace(tmp, dest)
        return dest
