"""``pip install ./client`` into a fresh venv (no --system-site-packages): molexp imports, Django is absent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "client"


def test_client_installs_into_a_fresh_venv_without_django(tmp_path):
    venv = tmp_path / "venv"
    # No pip of its own (ensurepip costs ~9 CPU-s): this environment's pip installs into it (--python).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(CLIENT)],
                             capture_output=True, text=True, timeout=600)  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    probe = (
        "import importlib.util, molexp, tusclient, git, requests;"
        "assert importlib.util.find_spec('django') is None, 'django must not be installed';"
        "print(molexp.__version__)"
    )
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "0.1.0", out.stderr
    cli = subprocess.run([str(venv / "bin" / "molexp"), "--url", "http://127.0.0.1:9", "whoami"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert cli.returncode == 3 and cli.stderr.count("\n") == 1 and "cannot reach" in cli.stderr
