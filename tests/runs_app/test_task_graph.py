"""The task graph drawn on the server (issue 14 item 7): no 2.7 MB script on experiment pages,
a left-to-right layout, escaped labels, and any topology (even a crate's cycle) terminates."""

from __future__ import annotations

import pytest

from runs_app.models import Experiment
from runs_app.task_graph import NODE_HEIGHT, task_graph_layout

pytestmark = pytest.mark.django_db

CHAIN = {
    "tasks": [
        {"name": "load", "depends_on": []},
        {"name": "featurize", "depends_on": ["load"], "map_over": "load"},
        {"name": "train", "depends_on": ["featurize"]},
        {"name": "baseline", "depends_on": ["load"]},
        {"name": "report", "depends_on": ["train", "baseline"]},
    ]
}


def test_columns_follow_the_longest_dependency_path():
    graph = task_graph_layout(CHAIN)
    x = {n.name: n.x for n in graph.nodes}
    assert x["load"] < x["featurize"] == x["baseline"] < x["train"] < x["report"]
    assert {(e.source, e.target) for e in graph.edges} == {
        ("load", "featurize"), ("featurize", "train"), ("load", "baseline"), ("train", "report"), ("baseline", "report"),
    }  # fmt: skip
    assert [n.mapped for n in graph.nodes if n.name == "featurize"] == [True]
    for n in graph.nodes:  # everything inside the drawing
        assert 0 <= n.x and n.x + n.width <= graph.width and 0 <= n.y and n.y + NODE_HEIGHT <= graph.height


@pytest.mark.parametrize(
    "topology",
    [None, {}, {"tasks": "x"}, {"tasks": [1, {"name": 2}, {"depends_on": ["a"]}]}],
)
def test_nothing_to_draw(topology):
    assert task_graph_layout(topology) is None


def test_malformed_and_cyclic_topologies_still_draw():
    graph = task_graph_layout(
        {"tasks": [{"name": "a", "depends_on": ["b", 3, "ghost"]}, {"name": "b", "depends_on": ["a"]}, {"name": "c"}]}
    )
    assert {n.name for n in graph.nodes} == {"a", "b", "c"}
    assert len(graph.edges) == 1  # the edge that closes the cycle is not drawn backwards


def test_the_experiment_page_draws_an_svg_without_mermaid(web_client_for, experiment):
    hostile = '<script>alert(1)</script>"x'
    Experiment.objects.filter(pk=experiment.pk).update(
        topology={"name": "wf", "tasks": [*CHAIN["tasks"], {"name": hostile, "depends_on": ["report"]}]}
    )
    html = web_client_for("viewer").get(experiment.get_absolute_url()).content.decode()
    assert "mermaid" not in html
    assert '<svg class="molexp-task-graph"' in html and html.count('class="molexp-tg-edge"') == 6
    assert 'data-task="featurize"' in html and "featurize ⟮map⟯" in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
