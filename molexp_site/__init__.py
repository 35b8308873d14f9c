"""MolExp site package: settings, root URLs, the Celery app and WSGI/ASGI entry points.

The Celery app (``molexp_site.celery``) is not imported with this package: Django loads it when it
starts (``runs_app``'s ``AppConfig.ready``) and ``celery -A molexp_site`` finds the submodule itself.
A short-lived helper that needs only a module of this package (the workflow inspector reads
``molexp_site.errors``) no longer pays for importing Celery (~0.27 s a process).
"""

__all__ = ("celery_app",)


def __getattr__(name: str):
    if name == "celery_app":
        from .celery import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
