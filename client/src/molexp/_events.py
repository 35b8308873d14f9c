"""The wire between a recorded run and the server: one event sent, a log's lines cut into bodies,
and an offline spool replayed (``molexp sync``).

The online sender thread (``_run.Run``) and ``sync_dir`` send events through ``send_event``, so a run
recorded offline reaches the server by exactly the requests an online one makes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ._http import Http
from ._tus import tus_artifact


def send_event(http: Http, run_id: int, event: dict[str, Any]) -> None:
    """Send one recorded event to the server (the online thread and ``molexp sync`` share this)."""
    base = f"/api/external/runs/{run_id}"
    kind = event["t"]
    seq = {"seq": event["seq"]} if event.get("seq") else {}
    if kind == "log" and "logs" in event:  # a spool written by an older client: JSON lines
        http.post(f"{base}/logs/", json={"logs": event["logs"], **seq})
    elif kind == "log":  # one log's lines as its segment bytes (the server does no per-line work)
        body = event["data"] if "data" in event else event["text"].encode("utf-8", errors="replace")
        http.post(f"{base}/logs/", params={"name": event["name"], **seq}, data=body,
                  headers={"Content-Type": "text/plain; charset=utf-8"})  # fmt: skip
    elif kind == "metric":
        http.post(f"{base}/metrics/", json={"points": event["points"], **seq})
    elif kind == "result":
        http.post(f"{base}/results/", json={"results": event["results"], **seq})
    elif kind == "artifact":
        tus_artifact(http, run_id, event)
    elif kind == "checkpoint" and event.get("file"):  # its file over tus, as an artifact's
        tus_artifact(http, run_id, event, checkpoint=True)
    elif kind == "checkpoint":
        http.post(f"{base}/checkpoints/", json={"name": event["name"], "data": event.get("data"),
                                                 "tags": list(event.get("tags") or []), **seq})  # fmt: skip
    elif kind == "input":
        http.post(
            f"{base}/inputs/", json={"name": event["name"], "kind": event.get("kind"), "version": event.get("version")}
        )
    else:  # pragma: no cover - written by this module only
        raise ValueError(f"unknown event {kind!r}")


def _event_lines(event: dict[str, Any]) -> int:
    if "logs" in event:
        return sum(len(v) for v in event["logs"].values())
    if "lines" in event:  # counted when the batch was made
        return event["lines"]
    return event["data"].count(b"\n") if "data" in event else event["text"].count("\n")


def _line(item: Any) -> str:
    try:
        return str(item).rstrip("\n")
    except Exception as exc:  # the sender must not die on one object
        return f"<unprintable {type(item).__name__}: {type(exc).__name__}>"


def _log_lines_text(items: list[Any]) -> tuple[str, int]:
    """The lines of ``items`` as text, each followed by ``\\n`` (what ``append`` promises: ``str(item)``
    without its trailing newlines, split at inner newlines), and how many lines that is.

    The common case (every item a ``str`` without a newline) is one ``join`` and one ``count``, no
    other copy of the text: ``items`` gets a last empty item for the final newline (and loses it again).
    """
    count = len(items)
    items.append("")
    try:
        text = "\n".join(items)
    except TypeError:
        text = None
    finally:
        items.pop()
    if text is not None and text.count("\n") == count:
        return text, count
    text = "\n".join(map(_line, items)) + "\n"  # a non-str item or a line with a newline in it
    return text, text.count("\n")


def _log_text(items: list[Any]) -> str:
    """``_log_lines_text`` without the count."""
    return _log_lines_text(items)[0]


def _log_chunks(data: bytes, limit: int, max_lines: int, lines: int | None = None) -> list[bytes]:
    """``data`` (lines ending with ``\\n``) cut at line ends into pieces of at most ``limit`` bytes and
    ``max_lines`` lines; a single line longer than ``limit`` keeps only its head. ``lines`` (the
    newline count of ``data``, when the caller has it) spares a pass over a batch that fits whole."""
    if len(data) <= limit and (lines if lines is not None else data.count(b"\n")) <= max_lines:
        return [data] if data else []
    chunks = []
    start, size = 0, len(data)
    while start < size:
        end = min(size, start + limit)
        if end < size:
            cut = data.rfind(b"\n", start, end)
            if cut < 0:  # one line longer than a request: its head (whole characters)
                chunks.append(data[start : start + limit - 1].decode("utf-8", "ignore").encode("utf-8") + b"\n")
                start = data.index(b"\n", end) + 1
                continue
            end = cut + 1
        if data.count(b"\n", start, end) > max_lines:
            cut = start - 1
            for _ in range(max_lines):
                cut = data.index(b"\n", cut + 1)
            end = cut + 1
        chunks.append(data[start:end])
        start = end
    return chunks


def sync_dir(http: Http, folder: Path) -> list[dict[str, Any]]:
    """Upload every offline run spooled under ``folder`` (or ``folder`` itself); returns one line per run.

    Idempotent: the server keys a run on its uuid, a synced spool is marked
    ``synced.json``, and replay progress is kept in ``progress`` so an
    interrupted sync resumes without sending an event twice.
    """
    folders = (
        [folder]
        if (folder / "record.json").exists()
        else sorted(p for p in folder.iterdir() if (p / "record.json").exists())
    )
    report = []
    for spool in folders:
        marker = spool / "synced.json"
        if marker.exists():
            report.append({**json.loads(marker.read_text()), "state": "already synced"})
            continue
        record = json.loads((spool / "record.json").read_text(encoding="utf-8"))
        body = http.post("/api/external/runs/", json=record)
        run_id = body["id"]
        if body.get("status") in ("succeeded", "failed", "cancelled", "lost"):
            state = "already on the server"
        else:
            progress_file = spool / "progress"
            done = int(progress_file.read_text()) if progress_file.exists() else 0
            events_path = spool / "events.jsonl"
            lines = events_path.read_text(encoding="utf-8").splitlines() if events_path.exists() else []
            last_beat = time.monotonic()
            for index in range(done, len(lines)):
                if lines[index].strip():
                    send_event(http, run_id, json.loads(lines[index]))
                progress_file.write_text(str(index + 1))
                if time.monotonic() - last_beat > 10:  # a long sync must not look like a dead client
                    http.post(f"/api/external/runs/{run_id}/heartbeat/")
                    last_beat = time.monotonic()
            finish_path = spool / "finish.json"
            if finish_path.exists():
                finish = json.loads(finish_path.read_text(encoding="utf-8"))
            else:  # the offline process died before the end of its block
                finish = {"status": "failed", "error": {"type": "ClientLost",
                          "message": "the offline process ended before its run finished"}}  # fmt: skip
            http.post(f"/api/external/runs/{run_id}/finish/", json=finish)
            state = "synced"
        entry = {"run": run_id, "number": body.get("number"), "uuid": record["run_uuid"], "url": body.get("url", "")}
        marker.write_text(json.dumps(entry))
        report.append({**entry, "state": state})
    return report
