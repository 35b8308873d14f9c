"""A tus upload against gunicorn on loopback (one gthread worker so its memory is one process):
throughput with ``tuspy``, web worker RSS growth (``/proc``), finalize time after the last
byte, and bytes re-sent after a forced reconnect.

Phases: tuspy uploads the first half in chunks; a raw PATCH then sends half a chunk and
drops the connection (a forced reconnect); a new tuspy uploader resumes from the server's
offset (HEAD) up to the last MiB; that last MiB goes through a raw PATCH timed from the
moment its last byte left the client to the response (hash already computed on the fly,
fsync, rename, asset row). Re-sent bytes = bytes the client had sent before the drop that
the server did not keep.

Targets (SPEC §11, 2 GiB): ≥ 100 MB/s, RSS growth ≤ 64 MB, finalized ≤ 2 s, re-sent ≤ 1 chunk.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = common.rss_bytes(pid)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            try:
                self.peak = max(self.peak, common.rss_bytes(self.pid))
            except OSError:
                return


def raw_patch(port: int, path: str, token: str, offset: int, body: bytes, *, declared: int | None = None,
              drop: bool = False) -> tuple[float, float, http.client.HTTPResponse | None]:  # fmt: skip
    """PATCH ``body`` at ``offset``; returns (time last byte sent, time response read, response)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.putrequest("PATCH", path)
    for key, value in {
        "Authorization": f"Token {token}", "Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream", "Content-Length": str(declared or len(body)),
    }.items():  # fmt: skip
        conn.putheader(key, value)
    conn.endheaders()
    view = memoryview(body)
    for start in range(0, len(body), MIB):
        conn.send(view[start : start + MIB])
    t_sent = time.perf_counter()
    if drop:
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        return t_sent, t_sent, None
    response = conn.getresponse()
    response.read()
    t_resp = time.perf_counter()
    conn.close()
    return t_sent, t_resp, response


def head_offset(port: int, path: str, token: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("HEAD", path, headers={"Authorization": f"Token {token}", "Tus-Resumable": "1.0.0"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return int(response.getheader("Upload-Offset")) if response.status == 200 else None


def main() -> None:
    common.setup()
    from rest_framework.authtoken.models import Token
    from tusclient import client as tus

    from runs_app.models import Workspace

    sizes = common.scale()
    length = sizes["upload_mib"] * MIB
    chunk = sizes["upload_chunk_mib"] * MIB
    report = common.Report("upload")
    print(common.header())
    user = common.bench_user()
    token = Token.objects.get_or_create(user=user)[0].key
    ws = Workspace.objects.get(slug="bench-lab-0")

    source = common.VAR_DIR / f"upload-{sizes['upload_mib']}MiB.bin"
    if not source.exists() or source.stat().st_size != length:
        block = os.urandom(MIB)
        with open(source, "wb") as fh:
            for k in range(length // MIB):
                fh.write(block[:-8] + k.to_bytes(8, "big"))  # distinct blocks, cheap to make
    port = free_port()
    log_path = common.VAR_DIR / "bench-gunicorn.log"
    cmd = [sys.executable, "-m", "gunicorn", "molexp_site.wsgi", "--bind", f"127.0.0.1:{port}", "--worker-class",
           "gthread", "--workers", "1", "--threads", "4", "--timeout", "300", "--error-logfile", "-"]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=common.BASE_DIR, env=common.bench_env(), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        client = tus.TusClient(f"{base}/api/uploads/", headers={"Authorization": f"Token {token}"})
        deadline = time.monotonic() + 30
        while True:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("OPTIONS", "/api/uploads/")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"gunicorn did not start: {log_path.read_text()[-2000:]}") from None
                time.sleep(0.2)
        worker_pids = []
        while not worker_pids and time.monotonic() < deadline:
            worker_pids = children(proc.pid)
            time.sleep(0.1)
        wpid = worker_pids[0]
        # warm the worker (imports, DB connection) before the baseline
        warm = client.uploader(file_stream=__import__("io").BytesIO(b"x" * 1024), chunk_size=1024,
                               metadata={"filename": "warm.bin", "workspace": str(ws.pk)})  # fmt: skip
        warm.upload()
        baseline = common.rss_bytes(wpid)
        sampler = RssSampler(wpid)
        sampler.start()

        meta = {"filename": f"bench-{sizes['upload_mib']}MiB-{time.time_ns()}.bin", "workspace": str(ws.pk)}
        uploader = client.uploader(str(source), chunk_size=chunk, metadata=meta)
        if uploader.url is None:
            uploader.set_url(uploader.create_url())  # tus creation (POST) now, to know the upload's path
            uploader.offset = 0
        path = uploader.url.replace(base, "") if uploader.url.startswith("http") else uploader.url
        half = (length // 2) // chunk * chunk
        t0 = time.perf_counter()
        uploader.upload(stop_at=half)
        t_phase1 = time.perf_counter() - t0
        sent1 = uploader.offset

        # forced reconnect: half a chunk, then the connection drops
        with open(source, "rb") as fh:
            fh.seek(sent1)
            part = fh.read(chunk // 2)
        raw_patch(port, path, token, sent1, part, declared=chunk, drop=True)
        offset = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # 423 (locked) until the server has seen the end of the body
            offset = head_offset(port, path, token)
            if offset is not None and offset >= sent1:
                time.sleep(0.2)
                again = head_offset(port, path, token)
                if again == offset:
                    break
            time.sleep(0.1)
        kept = (offset or sent1) - sent1
        resent = len(part) - kept

        resumed = client.uploader(str(source), url=uploader.url, chunk_size=chunk, metadata=meta)
        t0 = time.perf_counter()
        resumed.upload(stop_at=length - MIB)
        t_phase2 = time.perf_counter() - t0
        sent2 = resumed.offset - (offset or sent1)

        with open(source, "rb") as fh:
            fh.seek(length - MIB)
            last = fh.read()
        t_sent, t_resp, response = raw_patch(port, path, token, length - MIB, last)
        sampler.stop.set()
        sampler.join()
        finalize = t_resp - t_sent
        asset_id = response.getheader("MolExp-Asset-Id")
        mb_s = (sent1 + sent2 + MIB) / 1e6 / (t_phase1 + t_phase2 + (t_resp - t_sent))
        growth = (sampler.peak - baseline) / MIB
        label = f"{sizes['upload_mib']} MiB"
        report.add(f"tus upload {label} throughput (tuspy, {chunk // MIB} MiB chunks)", p50=round(mb_s, 1),
                   unit="MB/s", target="≥ 100 MB/s", ok=mb_s >= 100)  # fmt: skip
        report.add("  web worker RSS growth (peak − warm baseline)", p50=round(growth, 1), unit="MiB",
                   target="≤ 64 MB", ok=growth <= 64, baseline_mib=round(baseline / MIB, 1))  # fmt: skip
        report.add("  finalize after the last byte", p50=round(finalize * 1000, 1), unit="ms", target="≤ 2 s",
                   ok=finalize <= 2 and response.status == 204 and bool(asset_id), status=response.status,
                   asset_id=asset_id)  # fmt: skip
        report.add("  bytes re-sent after a forced reconnect", p50=resent, unit="B",
                   target=f"≤ 1 chunk ({chunk // MIB} MiB)", ok=0 <= resent <= chunk, sent_before_drop=len(part),
                   kept_by_server=kept)  # fmt: skip
    finally:
        if proc.poll() is None:
            os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
    path = report.save()
    print(f"-> {path}")


if __name__ == "__main__":
    main()
