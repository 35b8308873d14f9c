from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AssetsAppConfig(AppConfig):
    name = "assets_app"
    label = "assets_app"
    verbose_name = "Assets"

    def ready(self) -> None:
        # SQLite: re-create the catalog's FTS5 triggers if a table rebuild dropped them.
        from .search.sqlite_fts import post_migrate_ensure_fts

        post_migrate.connect(post_migrate_ensure_fts, sender=self, dispatch_uid="assets_app.ensure_fts")
        _install_data_libraries()


def _install_data_libraries() -> None:
    """Give ``Workspace``, ``Project`` and ``Experiment`` their ``data_assets`` property (SPEC §6).

    Installed here, when the app registry is ready (web, worker and commands alike), so that
    ``runs_app.models`` never imports assets services: the arrow stays assets → runs (SPEC §1).
    """
    from runs_app.models import Experiment, Project, Workspace

    from .services.libraries import data_library_for

    for model in (Workspace, Project, Experiment):
        model.data_assets = property(
            data_library_for,
            doc=f"This {model._meta.verbose_name}'s data library (``assets_app.services.DataLibrary``): "
            "import, upload, get, list.",
        )
