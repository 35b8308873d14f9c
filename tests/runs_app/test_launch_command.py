"""manage.py launch: the same launch service from the command line, with clear errors."""

import pytest
from django.core.management import CommandError, call_command

from runs_app.models import Run


@pytest.fixture
def cli_experiment(chem_experiment, editor):
    return chem_experiment


@pytest.mark.django_db
def test_sweep_from_the_command_line(cli_experiment, editor, capsys, django_capture_on_commit_callbacks):
    ref = f"{cli_experiment.workspace.slug}/{cli_experiment.project.slug}/{cli_experiment.slug}"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        call_command("launch", ref, "--profile", "quick-test", "--override", "optimizer.lr=5e-4",
                     "--sweep", "scale=1,2.5", "--user", "editor")  # fmt: skip
    assert len(callbacks) == 1
    runs = list(Run.objects.filter(experiment=cli_experiment).order_by("number"))
    assert [r.params for r in runs] == [{"scale": 1}, {"scale": 2.5}]
    assert all(r.profile == "quick_test" and r.config["optimizer"]["lr"] == 5e-4 for r in runs)
    assert "2 run(s) launched" in capsys.readouterr().out


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--profile", "nope"], "Unknown profile 'nope'"),
        (["--override", "novalue"], "Malformed override"),
        (["--sweep", "scale"], "expected NAME=VALUE"),
        (["--param", "a=1", "--sweep", "b=1,2"], "not both"),
        (["--user", "ghost"], "No user 'ghost'"),
    ],
)
def test_bad_arguments_are_command_errors_and_create_nothing(cli_experiment, editor, args, message):
    as_user = [] if "--user" in args else ["--user", "editor"]
    with pytest.raises(CommandError, match=message):
        call_command("launch", str(cli_experiment.pk), *as_user, *args)
    assert not Run.objects.exists()


@pytest.mark.django_db
def test_viewer_cannot_launch_from_the_command_line(cli_experiment, viewer):
    with pytest.raises(CommandError, match="needs the editor role"):
        call_command("launch", str(cli_experiment.pk), "--user", "viewer")
    assert not Run.objects.exists()
