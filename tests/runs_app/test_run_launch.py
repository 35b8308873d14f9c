"""run_launch: validation before any write, sweeps, snapshot and dispatch after commit."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from runs_app.choices import RunStatus
from runs_app.models import Execution, Run, RunEvent, SourceBlob
from runs_app.profiles import config_hash
from runs_app.services import run_launch


@pytest.mark.django_db
def test_launch_records_config_snapshot_and_dispatches_after_commit(
    chem_experiment, editor, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [run] = run_launch(
            user=editor,
            experiment=chem_experiment,
            profile="quick-test",
            overrides=["optimizer.lr=5e-4"],
            params={"x": 1},
        )
    assert len(callbacks) == 1
    run = Run.objects.get(pk=run.pk)
    assert run.status == RunStatus.QUEUED and run.number == 1
    assert run.profile == "quick_test"
    assert run.config == {"scale": 2.0, "optimizer": {"lr": 5e-4}}
    assert run.config_hash == config_hash(run.config)
    assert run.params == {"x": 1}
    snap = run.workflow_snapshot
    assert snap["workflow_source"] == "chem.py" and snap["workflow_name"] == "chem"
    assert snap["tasks"] == ["load", "featurize", "summarize"]
    assert len(snap["topology_hash"]) == 64
    assert SourceBlob.objects.get(sha256=snap["source_sha256"]).size == snap["source_size"]
    assert snap["git_dirty"] is None  # not in a repository: recorded as such
    assert Execution.objects.get(run=run).status == "queued"
    assert list(RunEvent.objects.filter(run=run, subject="run").values_list("from_status", "to_status")) == [
        ("pending", "queued")
    ]


@pytest.mark.django_db
def test_sweep_is_a_cartesian_product_with_one_source_blob(chem_experiment, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        runs = run_launch(user=editor, experiment=chem_experiment, sweep={"scale": [1, 2, 3], "seed": [0, 1]})
    assert len(runs) == 6
    assert sorted(r.number for r in runs) == [1, 2, 3, 4, 5, 6]
    assert {(r.params["scale"], r.params["seed"]) for r in runs} == {(a, b) for a in (1, 2, 3) for b in (0, 1)}
    assert SourceBlob.objects.count() == 1
    assert Execution.objects.count() == 6
    # Every row holds the one snapshot, and so do the objects returned (a dict, as the API serializes it).
    stored = dict(Run.objects.filter(pk__in=[r.pk for r in runs]).values_list("pk", "workflow_snapshot"))
    assert all(isinstance(r.workflow_snapshot, dict) and r.workflow_snapshot == stored[r.pk] for r in runs)
    assert stored[runs[0].pk]["workflow_name"] and len({str(v) for v in stored.values()}) == 1


@pytest.mark.django_db
def test_each_launch_request_gets_its_own_sweep_id(chem_experiment, editor, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        sweep = run_launch(user=editor, experiment=chem_experiment, sweep={"scale": [1, 2], "seed": [0, 1]})
        [single] = run_launch(user=editor, experiment=chem_experiment, params={"scale": 1})
    stored = dict(Run.objects.values_list("pk", "sweep_id"))
    assert len({stored[r.pk] for r in sweep}) == 1 and stored[sweep[0].pk] is not None
    assert stored[single.pk] not in (None, stored[sweep[0].pk])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"profile": "nope"}, "profile", "Unknown profile 'nope'"),
        ({"overrides": ["novalue"]}, "overrides", "Malformed override"),
        ({"sweep": {"lr": 0.1}}, "sweep", "Sweep axis 'lr' must be a list"),
        ({"sweep": {"lr": []}}, "sweep", "has no values"),
        ({"params": [1, 2]}, "params", "JSON object"),
        ({"params": {}, "sweep": {"a": [1]}}, "sweep", "not both"),
    ],
)
def test_bad_requests_name_the_problem_and_create_nothing(chem_experiment, editor, kwargs, field, text):
    with pytest.raises(ValidationError) as err:
        run_launch(user=editor, experiment=chem_experiment, **kwargs)
    assert text in " ".join(err.value.message_dict[field])
    assert Run.objects.count() == 0 and Execution.objects.count() == 0


@pytest.mark.django_db
def test_unknown_workflow_file_is_refused(chem_experiment, editor, workflow_dir):
    (workflow_dir / "chem.py").unlink()
    with pytest.raises(ValidationError) as err:
        run_launch(user=editor, experiment=chem_experiment)
    assert "workflow_source" in err.value.message_dict
    assert Run.objects.count() == 0


@pytest.mark.django_db
def test_broken_workflow_topology_is_refused(chem_experiment, editor, workflow_dir):
    (workflow_dir / "chem.py").write_text(
        "from runs_app.workflow import Workflow\nw = Workflow('w')\n@w.task(depends_on=['ghost'])\ndef a(ghost):\n    pass\n"
    )
    with pytest.raises(ValidationError) as err:
        run_launch(user=editor, experiment=chem_experiment)
    assert "unknown task 'ghost'" in str(err.value)


@pytest.mark.django_db
def test_viewer_cannot_launch(chem_experiment, viewer):
    with pytest.raises(PermissionDenied):
        run_launch(user=viewer, experiment=chem_experiment)
    assert Run.objects.count() == 0
