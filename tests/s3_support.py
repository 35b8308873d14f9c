"""A real S3 API server for the scale-out tests: moto in server mode, on a free loopback port.

moto is a separate process speaking the S3 REST API over HTTP, so django-storages
and boto3 run their real code paths (signing, multipart uploads, ranged GETs,
listings) exactly as against AWS S3 or MinIO; only the server is a stand-in.
``s3_storage`` points the test process's ``default_storage`` at a fresh bucket,
and ``s3_env`` gives the same configuration to worker or web subprocesses.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ACCESS_KEY = "molexp-test"
SECRET_KEY = "molexp-test-secret"
REGION = "us-east-1"
BACKEND = "storages.backends.s3.S3Storage"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> None:
        log = open(self.workdir / "moto.log", "wb")  # noqa: SIM115 - owned by the child
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.proc.returncode}: {self.log()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"moto server did not answer within {timeout} s")

    def log(self) -> str:
        path = self.workdir / "moto.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        name = f"molexp-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return [
            obj["Key"] for page in paginator.paginate(Bucket=bucket, Prefix=prefix) for obj in page.get("Contents", ())
        ]

    def get(self, bucket: str, key: str) -> bytes:
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def s3_options(server: MotoServer, bucket: str) -> dict:
    """The ``STORAGES["default"]["OPTIONS"]`` ``molexp_site.settings`` builds from ``s3_env``."""
    return {
        "bucket_name": bucket,
        "endpoint_url": server.url,
        "region_name": REGION,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "location": "",
        "addressing_style": "path",
        "file_overwrite": True,
        "default_acl": None,
        "querystring_auth": True,
        "gzip": False,
        "max_memory_size": 16 * 1024 * 1024,
    }


def s3_env(server: MotoServer, bucket: str) -> dict[str, str]:
    """Environment variables that configure a MolExp process for this bucket (as in docs/deployment.md)."""
    return {
        "MOLEXP_STORAGE_BACKEND": BACKEND,
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": server.url,
        "AWS_S3_REGION_NAME": REGION,
        "AWS_S3_ADDRESSING_STYLE": "path",
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    }


@contextmanager
def storage_on_s3(settings, server: MotoServer, bucket: str) -> Iterator[None]:
    """Point this process's ``default_storage`` at ``bucket`` (pytest-django's ``settings`` restores it)."""
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": BACKEND, "OPTIONS": s3_options(server, bucket)}}
    yield


def storage_backend(request, settings, tmp_path, kind: str) -> str:
    """The asset storage of this test on ``kind``: "fs" (a private ``MEDIA_ROOT`` folder) or "s3"
    (a fresh bucket of moto's server, through the ``s3_bucket`` fixture). Returns ``kind``."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    if kind == "fs":
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                        "OPTIONS": {"location": settings.MEDIA_ROOT}},
        }  # fmt: skip
    else:
        request.getfixturevalue("s3_bucket")
    return kind


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server, settings) -> Iterator[str]:
    """A fresh bucket that ``default_storage`` points at for this test."""
    bucket = moto_server.new_bucket()
    with storage_on_s3(settings, moto_server, bucket):
        yield bucket
