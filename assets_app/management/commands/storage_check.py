"""``manage.py storage_check``: prove the configured asset storage works (write, list, ranged read, delete).

Run it on every new web or worker machine (``docs/deployment.md``); exit status 1
with the failing step when the bucket, endpoint or credentials are wrong.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from assets_app.services import StorageProbeFailed, storage_probe


class Command(BaseCommand):
    help = "Check that the asset storage accepts the operations MolExp needs (a probe object, then removed)."

    def handle(self, *args, **opts):
        try:
            result = storage_probe()
        except StorageProbeFailed as exc:
            raise CommandError(f"asset storage check failed at {exc}") from None
        self.stdout.write(f"asset storage OK: {result['backend']} at {result['location']} ({result['seconds']} s)")
