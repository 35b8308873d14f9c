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
