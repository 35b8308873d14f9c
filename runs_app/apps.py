from django.apps import AppConfig


class RunsAppConfig(AppConfig):
    name = "runs_app"
    label = "runs_app"
    verbose_name = "Runs"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from molexp_site import (
            celery,  # noqa: F401  (the Celery app: shared tasks bind to it)
            pg_arrays,
        )

        from . import checks  # noqa: F401  (registers the system checks)

        # bulk inserts' array parameters escaped without a regex template (molexp_site/pg_arrays.py)
        connection_created.connect(pg_arrays.register, dispatch_uid="molexp.pg_arrays")
