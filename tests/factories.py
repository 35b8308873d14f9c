"""One factory per model (factory_boy)."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from assets_app.choices import AssetKind, ScopeKind
from assets_app.models import Asset, AssetUse
from runs_app.choices import Role
from runs_app.models import (
    Execution,
    Experiment,
    Membership,
    Metric,
    Project,
    Run,
    RunEvent,
    TaskExecution,
    Workspace,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    password = factory.django.Password("pw-for-tests-1")


class WorkspaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Workspace

    name = factory.Sequence(lambda n: f"Workspace {n}")
    slug = factory.Sequence(lambda n: f"ws-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    workspace = factory.SubFactory(WorkspaceFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.VIEWER


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class ExperimentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Experiment

    project = factory.SubFactory(ProjectFactory)
    workspace = factory.SelfAttribute("project.workspace")
    name = factory.Sequence(lambda n: f"Experiment {n}")
    slug = factory.Sequence(lambda n: f"experiment-{n}")
    workflow_source = "featurize.py"


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    experiment = factory.SubFactory(ExperimentFactory)
    project = factory.SelfAttribute("experiment.project")
    workspace = factory.SelfAttribute("experiment.workspace")
    number = factory.Sequence(lambda n: n + 1)
    profile = "default"
    config = factory.LazyFunction(lambda: {"lr": 0.1})
    config_hash = factory.Sequence(lambda n: f"{n:064x}")


class ExecutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Execution

    run = factory.SubFactory(RunFactory)
    number = factory.Sequence(lambda n: n + 1)


class TaskExecutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskExecution

    execution = factory.SubFactory(ExecutionFactory)
    task_name = factory.Sequence(lambda n: f"task{n}")


class RunEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RunEvent

    run = factory.SubFactory(RunFactory)
    to_status = "queued"


class MetricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Metric

    run = factory.SubFactory(RunFactory)
    key = "loss"
    value = 0.5


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset

    kind = AssetKind.DATA
    name = factory.Sequence(lambda n: f"dataset-{n}.csv")
    scope = ScopeKind.WORKSPACE
    workspace = factory.SubFactory(WorkspaceFactory)
    scope_key = factory.LazyAttribute(lambda o: Asset.make_scope_key(o.workspace.pk, None, None, None))
    size = 10
    sha256 = factory.Sequence(lambda n: f"{n:064x}")


class AssetUseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AssetUse

    asset = factory.SubFactory(AssetFactory)
    run = factory.SubFactory(RunFactory)
