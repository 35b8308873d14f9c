"""``manage.py gc [--dry-run]``: free content-addressed bytes nothing references (SPEC §14).

Safe to run while workers and uploads write (docs/lifecycle.md); reports objects and
bytes freed per kind (asset blobs, code bundle files, partial uploads).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from assets_app.services import blob_gc


class Command(BaseCommand):
    help = "Free asset blobs, code bundle files and partial uploads that nothing references."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report what would be freed; change nothing.")
        parser.add_argument(
            "--grace-seconds",
            type=int,
            default=None,
            help="Keep objects written or claimed this recently (default MOLEXP_GC_GRACE_SECONDS).",
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args, **opts):
        report = blob_gc(dry_run=opts["dry_run"], grace_seconds=opts["grace_seconds"])
        if opts["json"]:
            self.stdout.write(json.dumps(report.as_dict(), sort_keys=True))
            return
        verb = "would free" if report.dry_run else "freed"
        for kind, entry in sorted(report.kinds.items()):
            self.stdout.write(f"{kind}: {verb} {entry['objects']} objects, {entry['bytes']} bytes")
        self.stdout.write(f"total: {verb} {report.objects} objects, {report.bytes} bytes")
