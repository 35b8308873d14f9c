"""run_list_same_config and the "Same configuration" table: same config_hash anywhere in the workspace."""

from __future__ import annotations

import pytest

from runs_app.selectors import run_list_same_config
from runs_app.services import experiment_create, run_clone, run_launch

from .reproduce_workflows import *  # noqa: F403 - fixtures (steady, noisy, repro_dir, _no_broker) and helpers
from .reproduce_workflows import finished_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_same_config_finds_runs_in_other_experiments_and_flags_the_source(steady, noisy, editor, project, viewer):
    base = finished_run(steady, editor)
    twin = finished_run(steady, editor)
    other_exp = experiment_create(user=editor, project=project, name="Steady copy", workflow_source="steady.py")
    [elsewhere] = run_launch(user=editor, experiment=other_exp)
    [other_source] = run_launch(user=editor, experiment=noisy)  # same molcfg defaults → same config hash
    different = run_clone(user=editor, run=base, overrides=["scale=5"])
    assert other_source.config_hash == base.config_hash != different.config_hash
    rows = {r.pk: r for r in run_list_same_config(user=viewer, run=base)}
    assert set(rows) == {twin.pk, elsewhere.pk, other_source.pk}
    assert rows[twin.pk].same_source and rows[elsewhere.pk].same_source and not rows[other_source.pk].same_source


def test_same_config_is_scoped_to_readers(steady, editor, outsider):
    base = finished_run(steady, editor)
    finished_run(steady, editor)
    assert list(run_list_same_config(user=outsider, run=base)) == []


def test_same_config_panel_lists_and_links(steady, editor, web_client_for):
    base = finished_run(steady, editor)
    twin = finished_run(steady, editor)
    client = web_client_for("viewer")
    html = client.get(f"/runs/{base.pk}/reproduce/panel/").content.decode()
    table = html.split('id="same-config"')[1].split("</table>")[0]
    assert twin.get_absolute_url() in table and "same snapshot" in table and "succeeded" in table.lower()
    assert f"?config_hash={base.config_hash}" in html


def test_same_config_panel_query_count_is_constant(steady, editor, web_client_for, django_assert_max_num_queries):
    base = finished_run(steady, editor)
    client = web_client_for("viewer")
    finished_run(steady, editor)
    with django_assert_max_num_queries(50) as small:
        client.get(f"/runs/{base.pk}/reproduce/panel/")
    for _ in range(3):
        finished_run(steady, editor)
    with django_assert_max_num_queries(50) as large:
        client.get(f"/runs/{base.pk}/reproduce/panel/")
    assert len(large.captured_queries) == len(small.captured_queries)
