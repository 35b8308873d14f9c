"""One identity per computation: the run fingerprint (SPEC §12).

``fingerprint`` is the hex SHA-256 of the canonical JSON (``sort_keys``, compact
separators, ``json.dumps`` defaults otherwise) of ``{"snapshot": snapshot_hash,
"workflow": workflow_name, "config_hash": config_hash, "params": params}``,
encoded as UTF-8. Two runs with the same fingerprint ran the same code bundle,
the same workflow, the same merged config and the same sweep cell.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def run_fingerprint(*, snapshot_hash: str, workflow_name: str, config_hash: str, params: dict[str, Any]) -> str:
    payload = {"snapshot": snapshot_hash, "workflow": workflow_name, "config_hash": config_hash, "params": params}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
