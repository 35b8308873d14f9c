"""A run's files over the server's tus endpoint (``/api/uploads/``, tus 1.0: creation, HEAD, PATCH).

Invariants:
- The PATCH body streams from the spooled file (at most ``PATCH_BYTES`` per request,
  read and sent in ``SEND_BLOCK`` pieces on the client's keep-alive session): a 64 MiB
  file is one PATCH, and no file is ever held in memory whole.
- The upload's URL is kept in the event once created: a retry continues that upload
  (HEAD gives the offset) instead of starting a second one, so a lost answer never
  makes a second version. An upload the server no longer knows (404/410) starts again.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import urljoin

from ._http import Http, MolExpError, TransientError

TUS_VERSION = "1.0.0"
#: At most this many bytes per PATCH request.
PATCH_BYTES = 64 * 1024 * 1024
#: The body is read from the file and sent in pieces of this size.
SEND_BLOCK = 1024 * 1024


class _FileSlice:
    """``length`` bytes of ``fh`` from its position as a request body: its length is the Content-Length
    (requests), its iterator the pieces sent (urllib3 sends an iterable's items; it would read a file
    object 16 KiB at a time)."""

    def __init__(self, fh: IO[bytes], length: int) -> None:
        self._fh, self._length = fh, length

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        left = self._length
        while left > 0:
            block = self._fh.read(min(SEND_BLOCK, left))
            if not block:
                raise OSError(f"the spooled file ended {left} bytes early")
            left -= len(block)
            yield block


def _metadata_header(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}" if value else key
        for key, value in metadata.items()
    )


def tus_artifact(http: Http, run_id: int, event: dict[str, Any], *, checkpoint: bool = False) -> None:
    """Upload an artifact (or a checkpoint's file: Upload-Metadata ``checkpoint`` and its ``data``) of run
    ``run_id`` (Upload-Metadata ``run``), resuming where it stopped (see the module invariants)."""
    metadata = {
        "filename": event["name"].rsplit("/", 1)[-1] or "artifact",
        "name": event["name"],
        "run": str(run_id),
        "tags": ",".join(event.get("tags") or []),
        "metadata": json.dumps(event.get("metadata")),
    }
    if checkpoint:
        metadata["checkpoint"] = "1"
        metadata["data"] = json.dumps(event.get("data"))
    size = os.path.getsize(event["file"])
    try:
        offset = 0
        if event.get("upload_url"):
            try:
                reply = http.request("HEAD", event["upload_url"], raw=True, expect=(200,),
                                     headers={"Tus-Resumable": TUS_VERSION})  # fmt: skip
                offset = int(reply.headers["Upload-Offset"])
            except MolExpError as exc:
                if exc.status not in (404, 410):
                    raise
                event.pop("upload_url")  # expired or gone on the server: start again
        if not event.get("upload_url"):
            reply = http.request("POST", "/api/uploads/", raw=True, expect=(201,), headers={
                "Tus-Resumable": TUS_VERSION, "Upload-Length": str(size), "Upload-Metadata": _metadata_header(metadata),
            })  # fmt: skip
            event["upload_url"] = urljoin(f"{http.url}/", reply.headers["Location"])
        with open(event["file"], "rb") as fh:
            while offset < size:
                fh.seek(offset)
                length = min(PATCH_BYTES, size - offset)
                reply = http.request("PATCH", event["upload_url"], raw=True, expect=(204,),
                                     data=_FileSlice(fh, length), headers={
                    "Tus-Resumable": TUS_VERSION, "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream", "Content-Length": str(length),
                })  # fmt: skip
                offset = int(reply.headers["Upload-Offset"])
    except TransientError as exc:
        raise TransientError(f"artifact {event['name']}: {exc}", exc.status) from None
    except MolExpError as exc:
        raise MolExpError(f"artifact {event['name']}: {exc}", exc.status) from None
    except (KeyError, ValueError) as exc:  # a reply without its tus headers: not our server, or a proxy's page
        raise TransientError(f"artifact {event['name']}: bad tus reply ({type(exc).__name__}: {exc})") from None
