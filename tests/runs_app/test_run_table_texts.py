"""The runs table's row strings (SPEC §15) are computed once in Python (``run_table_texts``) and read
exactly as the template lookups and filters they replace did: link, "<experiment> #<number>", status
label, profile, duration, launch time in the current time zone, all without a query."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from runs_app import selectors
from runs_app.choices import RunStatus
from runs_app.views.common import with_durations

from .. import factories as f

pytestmark = pytest.mark.django_db

URL = "/w/lab/p/qm9/e/baseline/"

#: What the fragment showed per row before ``run_table_texts``, one field per line.
OLD = Template(
    "{% for r in runs %}"
    "{{ r.workspace.slug }}/{{ r.project.slug }}/{{ r.experiment.slug }}:{{ r.number }}\n"
    "{{ name }} #{{ r.number }}\n{{ r.get_absolute_url }}\n{{ r.status }}\n"
    '{% include "runs_app/partials/_status_badge.html" with status=r.status label=r.get_status_display %}\n'
    '{{ r.profile|default:"—" }}\n{{ r.duration_display|default:"—" }}\n{{ r.created_at|date:"Y-m-d H:i" }}\n'
    '{{ r.created_at|date:"Y-m-d H:i" }}{% if r.launched_by %} · {{ r.launched_by.username }}{% endif %}\n'
    "{% endfor %}"
)
NEW = Template(
    "{% for row in rows %}{% with t=row.texts %}"
    "{{ t.compare }}\n{{ t.label }}\n{{ t.url }}\n{{ t.status }}\n"
    '{% include "runs_app/partials/_status_badge.html" with status=t.status label=t.status_label %}\n'
    "{{ t.profile }}\n{{ t.duration }}\n{{ t.created }}\n{{ t.launched }}\n"
    "{% endwith %}{% endfor %}"
)


@pytest.fixture
def runs(experiment, editor):
    """Runs with and without a profile, a launcher, a duration; numbers of 1 to 5 digits; odd times."""
    start = datetime(2026, 3, 29, 0, 59, 30, tzinfo=UTC)  # a DST change in Europe the same night
    specs = [
        (1, RunStatus.SUCCEEDED, "default", editor, start, start + timedelta(hours=2, minutes=3)),
        (22, RunStatus.FAILED, "", None, start + timedelta(minutes=1), None),
        (333, RunStatus.RUNNING, "gpu<&>", editor, None, None),
        (4444, RunStatus.QUEUED, "default", None, None, None),
        (55555, RunStatus.CANCELLED, "cpu", editor, start, start + timedelta(seconds=7.25)),
    ]
    made = []
    for i, (number, status, profile, who, started, finished) in enumerate(specs):
        made.append(
            f.RunFactory(
                experiment=experiment, number=number, status=status, profile=profile, launched_by=who,
                started_at=started, finished_at=finished, config={"lr": i / 10, "seed": 1},
            )
        )  # fmt: skip
    from runs_app.models import Run

    for i, run in enumerate(made):
        Run.objects.filter(pk=run.pk).update(created_at=start + timedelta(minutes=7 * i, seconds=59))
    Run.objects.filter(pk__in=[r.pk for r in made[:2]]).update(sweep_id=uuid.uuid4())
    return made


def _table(user, experiment):
    rows = with_durations(selectors.run_list(user=user, filters={"experiment": experiment.pk}).only(
        *selectors.RUN_LIST_FIELDS, "config"
    ))  # fmt: skip
    return rows, selectors.run_table_build(runs=rows, metrics={})


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/St_Johns"])
def test_row_texts_read_as_the_template_filters_did(runs, experiment, viewer, zone, django_assert_num_queries):
    with timezone.override(zone):
        rows, table = _table(viewer, experiment)
        with django_assert_num_queries(0):
            selectors.run_table_texts(table, experiment_name=experiment.name)
        old = OLD.render(Context({"runs": rows, "name": experiment.name}))
        new = NEW.render(Context({"rows": table.rows}))
    assert new == old
    assert "gpu&lt;&amp;&gt;" in new and "gpu<&>" not in new  # still escaped by the template
    assert [row.texts["url"] for row in table.rows] == [r.get_absolute_url() for r in rows]


def test_row_texts_dash_empty_cells(runs, experiment, viewer):
    from runs_app.models import Run

    Run.objects.filter(number=22).update(results={"acc": ""})
    Run.objects.filter(number=333).update(results={"acc": 0.5})
    rows, table = _table(viewer, experiment)
    column = [c.key for c in table.shown].index("results.acc")
    shown = {row.run.number: row.cells[column] for row in table.rows}
    assert shown[22] == "" and shown[1] == ""  # an empty string and a missing key
    selectors.run_table_texts(table, experiment_name=experiment.name)
    shown = {row.run.number: row.cells[column] for row in table.rows}
    assert shown[22] == "—" and shown[1] == "—" and shown[333] == "0.5"


def test_fragment_shows_the_row_texts(runs, web_client_for):
    html = web_client_for("viewer").get(URL, headers={"HX-Request": "true"}).content.decode()
    assert 'href="/w/lab/p/qm9/e/baseline/runs/55555/">Baseline #55555</a>' in html
    assert 'value="lab/qm9/baseline:4444"' in html and 'aria-label="Compare Baseline #4444"' in html
    assert ">2026-03-29 01:28 · editor<" in html  # UTC, with the launcher
    assert ">2026-03-29 01:21<" in html  # no launcher
    assert "2 h 03 min" in html and "7.2 s" in html
    assert "Launched together: 2 runs · 2026-03-29 01:07" in html  # the newer of the two
    assert html.count('colspan="7"') == 1  # the group row: 1 varying column (config.lr) + 6
