"""molexp: record runs in a MolExp server from anywhere (SPEC §13).

import molexp
with molexp.Client().start_run("lab/project/experiment", config={"lr": 1e-3}) as ctx:
    ctx.log_metric("loss", 0.4, step=1)
"""

from __future__ import annotations

import os
from typing import Any

from ._events import sync_dir
from ._http import Http, MolExpError, TransientError, credentials_load
from ._run import AssetNotFound, Run, RunCancelled, offline_dir

__all__ = [
    "AssetNotFound",
    "Client",
    "MolExpError",
    "Run",
    "RunCancelled",
    "TransientError",
    "offline_dir",
    "sync_dir",
]
__version__ = "0.1.0"


class Client:
    """A MolExp server: ``MOLEXP_URL`` and ``MOLEXP_TOKEN`` (or ``molexp login``'s file), or ``Client(url=…, token=…)``."""

    def __init__(self, url: str | None = None, token: str | None = None, *, offline: bool | None = None) -> None:
        saved = credentials_load()
        self.url = url or os.environ.get("MOLEXP_URL") or saved.get("url", "")
        self.token = token or os.environ.get("MOLEXP_TOKEN") or saved.get("token", "")
        self.offline = offline if offline is not None else os.environ.get("MOLEXP_MODE", "").lower() == "offline"
        self._http: Http | None = None

    @property
    def http(self) -> Http:
        if self._http is None:
            self._http = Http(self.url, self.token)
        return self._http

    def start_run(
        self,
        experiment: str,
        *,
        config: dict | None = None,
        params: dict | None = None,
        profile: str = "",
        create_experiment: bool = False,
        offline: bool | None = None,
        script: str | os.PathLike | None = None,
    ) -> Run:
        """A run of ``workspace/project/experiment`` to use as ``with … as ctx``."""
        offline = self.offline if offline is None else offline
        return Run(
            http=None if offline else self.http,
            experiment=experiment,
            config=config,
            params=params,
            profile=profile,
            create_experiment=create_experiment,
            offline=offline,
            script=script,
        )

    def whoami(self) -> dict[str, Any]:
        return self.http.get("/api/auth/whoami/")
