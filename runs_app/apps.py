from django.apps import AppConfig


class RunsAppConfig(AppConfig):
    name = "runs_app"
    label = "runs_app"
    verbose_name = "Runs"

    def ready(self) -> None:
        from molexp_site import celery  # noqa: F401  (the Celery app: shared tasks bind to it)

        from . import checks  # noqa: F401  (registers the system checks)
