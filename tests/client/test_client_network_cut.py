"""A network cut shorter than the lost window loses nothing and never blocks the training loop (SPEC §13).

The client talks to the live server through ``TcpProxy`` (tests/integration/drill_support.py),
which closes every connection mid-run and refuses new ones for a while, like a server going away.
"""

from __future__ import annotations

import time
from urllib.parse import urlparse

import pytest
from rest_framework.authtoken.models import Token

from assets_app.models import Asset
from runs_app.models import Metric, Run
from tests.integration.drill_support import TcpProxy

from .test_client_live import env, molexp, script_dir  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def test_network_cut_mid_run_loses_nothing(live_server, env, ws, project, editor, script_dir):  # noqa: F811
    target = urlparse(live_server.url)
    proxy = TcpProxy((target.hostname, target.port))
    try:
        client = molexp.Client(url=f"http://127.0.0.1:{proxy.port}", token=Token.objects.create(user=editor).key)
        slowest = 0.0
        with client.start_run(f"{ws.slug}/{project.slug}/cut", create_experiment=True,
                              script=script_dir / "train.py") as ctx:  # fmt: skip
            for i in range(3000):
                began = time.perf_counter()
                ctx.log("train").append(f"step {i}")
                ctx.log_metric("loss", 1.0 / (i + 1), step=i)
                if i % 500 == 0:
                    ctx.artifact.save(f"state-{i}.json", {"i": i})
                slowest = max(slowest, time.perf_counter() - began)
                if i == 1000:
                    time.sleep(0.7)  # let a batch go out, then cut while the loop goes on
                    proxy.cut()
                if i == 2000:
                    time.sleep(2.0)
                    proxy.restore()
                time.sleep(0.0005)
            ctx.set_result("done", True)
        assert proxy.refused > 0, "the cut must have refused connections"
        assert ctx.sent["retries"] > 0
        assert slowest < 0.5, f"a write waited {slowest:.3f} s on the network"
    finally:
        proxy.close()
    run = Run.objects.get(pk=ctx.id)
    assert run.status == "succeeded" and run.results == {"done": True}
    assert Metric.objects.filter(run=run).count() == 3000
    assert sorted(Metric.objects.filter(run=run).values_list("step", flat=True)) == list(range(3000))
    assert Asset.objects.get(run=run, kind="log").as_kind().line_count == 3000  # none lost, none twice
    assert Asset.objects.filter(run=run, kind="artifact").count() == 6
