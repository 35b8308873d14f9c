"""The ``molexp`` command (SPEC §13): login, whoami, search, download, upload, launch, runs, sync.

Every failure prints one line to stderr and exits non-zero (1: request refused
or bad input, 2: usage, 3: server unreachable).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from . import Client
from ._events import sync_dir
from ._http import Http, MolExpError, TransientError, credentials_save
from ._run import offline_dir

TERMINAL = {"succeeded", "failed", "cancelled", "lost"}


def _client(args: argparse.Namespace) -> Client:
    return Client(url=getattr(args, "url", None) or None)


def cmd_login(args: argparse.Namespace) -> int:
    url = args.url or os.environ.get("MOLEXP_URL") or ""
    if not url:
        raise MolExpError("give the server: molexp login --url https://molexp.example.org")
    token = args.token or os.environ.get("MOLEXP_TOKEN") or ""
    username = args.username or ""
    if not token:
        username = username or input("Username: ")
        password = os.environ.get("MOLEXP_PASSWORD") or getpass.getpass("Password: ")
        token = Http(url).post("/api/auth/token/", json={"username": username, "password": password})["token"]
    me = Http(url, token).get("/api/auth/whoami/")
    path = credentials_save(url, token, me["username"])
    print(f"Logged in to {url} as {me['username']} (credentials in {path}, mode 0600)")
    return 0


def cmd_whoami(args: argparse.Namespace) -> int:
    me = _client(args).http.get("/api/auth/whoami/")
    print(me["username"])
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"q": args.query}
    if args.kind:
        params["kind"] = args.kind
    body = _client(args).http.get("/api/assets/", params=params)
    for row in body.get("results", []):
        print(
            f"{row['id']}\t{row['kind']}\t{row['name']}\tv{row['version']}\t{row.get('size', '')}\t{row.get('sha256', '')[:12]}"
        )
    return 0


def _asset_id(http: Http, ref: str, version: int | None) -> dict[str, Any]:
    if ref.isdigit():
        return http.get(f"/api/assets/{ref}/")
    rows = [r for r in http.get("/api/assets/", params={"q": ref}).get("results", []) if r["name"] == ref]
    if version is not None:
        rows = [r for r in rows if r["version"] == version]
    if not rows:
        raise MolExpError(f"no asset named {ref!r}" + (f" at version {version}" if version else ""))
    return max(rows, key=lambda r: (r["version"], r["id"]))


def cmd_download(args: argparse.Namespace) -> int:
    http = _client(args).http
    asset = _asset_id(http, args.asset, args.version)
    dest = Path(args.output or Path(asset["name"]).name)
    http.download(f"/api/assets/{asset['id']}/content/", dest)
    print(f"{dest}\t{asset['name']} v{asset['version']}\t{asset.get('sha256', '')}")
    return 0


def _all(http: Http, path: str, params: dict[str, Any] | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Every row of a paginated list (at most ``limit`` pages)."""
    rows: list[dict[str, Any]] = []
    body = http.get(path, params=params or {})
    for _ in range(limit):
        rows.extend(body.get("results", []))
        if not body.get("next"):
            break
        body = http.get(body["next"])
    return rows


def _workspace_id(http: Http, ref: str) -> int:
    if ref.isdigit():
        return int(ref)
    for row in _all(http, "/api/workspaces/"):
        if ref in (row.get("slug"), row.get("name")):
            return int(row["id"])
    raise MolExpError(f"no workspace {ref!r} visible to you")


def _experiment(http: Http, path: str) -> dict[str, Any]:
    parts = path.strip("/").split("/")
    if len(parts) != 3 or not all(parts):
        raise MolExpError("name the experiment as workspace/project/experiment")
    ws = _workspace_id(http, parts[0])
    project = next((p for p in _all(http, "/api/projects/", {"workspace": ws}) if p.get("slug") == parts[1]), None)
    if project is None:
        raise MolExpError(f"no project {parts[1]!r} in workspace {parts[0]!r}")
    found = next(
        (e for e in _all(http, "/api/experiments/", {"project": project["id"]}) if e.get("slug") == parts[2]), None
    )
    if found is None:
        raise MolExpError(f"no experiment {path!r} visible to you")
    return found


def cmd_upload(args: argparse.Namespace) -> int:
    from tusclient import client as tus_client

    client = _client(args)
    http = client.http
    path = Path(args.file)
    if not path.is_file():
        raise MolExpError(f"{path}: no such file")
    ws = _workspace_id(http, args.workspace)
    metadata = {"filename": path.name, "workspace": str(ws)}
    if args.project:
        projects = _all(http, "/api/projects/", {"workspace": ws})
        match = [p for p in projects if args.project in (str(p["id"]), p.get("slug"), p.get("name"))]
        if not match:
            raise MolExpError(f"no project {args.project!r} in workspace {args.workspace!r}")
        metadata["project"] = str(match[0]["id"])
    if args.name:
        metadata["name"] = args.name
    tus = tus_client.TusClient(f"{http.url}/api/uploads/", headers={"Authorization": f"Token {client.token}"})
    size = path.stat().st_size
    store = Path(os.environ.get("MOLEXP_CACHE_DIR") or os.path.expanduser("~/.cache/molexp")) / "uploads.json"
    store.parent.mkdir(parents=True, exist_ok=True)
    from tusclient.storage.filestorage import FileStorage

    uploader = tus.uploader(str(path), chunk_size=4 * 1024 * 1024, metadata=metadata, store_url=True,
                            url_storage=FileStorage(str(store)))  # fmt: skip
    while uploader.offset < size:
        uploader.upload_chunk()
        done = uploader.offset / size if size else 1.0
        bar = "#" * int(done * 30)
        print(f"\r[{bar:<30}] {done:6.1%} {uploader.offset}/{size} bytes", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    response = http.session.head(uploader.url, headers={"Tus-Resumable": "1.0.0"}, timeout=http.timeout)
    print(f"uploaded {path} → asset {response.headers.get('MolExp-Asset-Id', '?')}")
    return 0


def cmd_launch(args: argparse.Namespace) -> int:
    http = _client(args).http
    exp = _experiment(http, args.experiment)
    body: dict[str, Any] = {"profile": args.profile or "", "overrides": args.override or []}
    if args.sweep:
        sweep = {}
        for item in args.sweep:
            key, _, values = item.partition("=")
            sweep[key] = [
                json.loads(v) if v[:1] in '0123456789-[{"tfn' and _is_json(v) else v for v in values.split(",")
            ]
        body["sweep"] = sweep
    runs = http.post(f"/api/experiments/{exp['id']}/launch/", json=body)["runs"]
    for run in runs:
        print(f"run {run['id']} #{run['number']} {run['status']}")
    if not args.wait:
        return 0
    pending = {run["id"] for run in runs}
    failed = False
    while pending:
        time.sleep(1)
        for run_id in sorted(pending):
            run = http.get(f"/api/runs/{run_id}/")
            if run["status"] in TERMINAL:
                pending.discard(run_id)
                failed |= run["status"] != "succeeded"
                print(f"run {run_id} #{run['number']} {run['status']}")
    return 1 if failed else 0


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def cmd_runs(args: argparse.Namespace) -> int:
    http = _client(args).http
    if args.action == "show":
        if not args.id:
            raise MolExpError("molexp runs show RUN_ID")
        print(json.dumps(http.get(f"/api/runs/{args.id}/"), indent=2))
        return 0
    params: dict[str, Any] = {}
    if args.status:
        params["status"] = args.status
    for run in http.get("/api/runs/", params=params).get("results", []):
        print(
            f"{run['id']}\t#{run['number']}\t{run['status']}\t{run.get('experiment_name', '')}\t{run.get('created_at', '')}"
        )
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    folder = Path(args.dir) if args.dir else offline_dir()
    if not folder.exists():
        raise MolExpError(f"{folder}: no offline runs")
    for entry in sync_dir(_client(args).http, folder):
        print(f"run {entry['run']} #{entry.get('number')} {entry['state']} ({entry['uuid']})")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="molexp", description="MolExp client")
    p.add_argument("--url", help="server URL (default MOLEXP_URL or the login file)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("login")
    s.add_argument("--username")
    s.add_argument("--token", help="an API token instead of a password")
    s.set_defaults(func=cmd_login)
    sub.add_parser("whoami").set_defaults(func=cmd_whoami)
    s = sub.add_parser("search")
    s.add_argument("query")
    s.add_argument("--kind")
    s.set_defaults(func=cmd_search)
    s = sub.add_parser("download")
    s.add_argument("asset", help="asset id or name")
    s.add_argument("--version", type=int)
    s.add_argument("-o", "--output")
    s.set_defaults(func=cmd_download)
    s = sub.add_parser("upload")
    s.add_argument("file")
    s.add_argument("--workspace", required=True)
    s.add_argument("--project")
    s.add_argument("--name")
    s.set_defaults(func=cmd_upload)
    s = sub.add_parser("launch")
    s.add_argument("experiment", help="workspace/project/experiment")
    s.add_argument("--profile")
    s.add_argument("--override", action="append")
    s.add_argument("--sweep", action="append", help="K=a,b")
    s.add_argument("--wait", action="store_true")
    s.set_defaults(func=cmd_launch)
    s = sub.add_parser("runs")
    s.add_argument("action", choices=["list", "show"])
    s.add_argument("id", nargs="?")
    s.add_argument("--status")
    s.set_defaults(func=cmd_runs)
    s = sub.add_parser("sync")
    s.add_argument("dir", nargs="?")
    s.set_defaults(func=cmd_sync)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except TransientError as exc:
        print(f"molexp: {exc}", file=sys.stderr)
        return 3
    except MolExpError as exc:
        print(f"molexp: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("molexp: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a tus or file error: still one line
        print(f"molexp: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
