"""A run's tags and notes (SPEC §14): the one writer, for the run page and ``PATCH /api/runs/{id}/``.

Invariants: editors and owners write them (``PermissionDenied`` below, ``Http404`` for outsiders);
runs of an archived experiment, project or workspace are read-only (``Conflict``); tags are
normalised (trimmed, de-duplicated in order) and checked, notes are stored as written (Markdown,
rendered sanitised by ``runs_app.templatetags.molexp_markdown``). Bad input changes nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from ..access import archive_require_active, workspace_require_role
from ..choices import Role
from ..models import Run
from ..run_conditions import TAG_RE

MAX_TAGS = 32
MAX_NOTES = 100_000


def run_tags_clean(tags: object) -> list[str]:
    """A list of tags, trimmed and de-duplicated; ``ValidationError`` naming the first bad one."""
    if isinstance(tags, str):  # the page's comma-separated field
        tags = [part for part in tags.replace("\n", ",").split(",") if part.strip()]
    if not isinstance(tags, list | tuple) or not all(isinstance(tag, str) for tag in tags):
        raise ValidationError({"tags": "Tags are a list of strings."})
    cleaned: list[str] = []
    for tag in (t.strip() for t in tags):
        if not TAG_RE.match(tag):
            raise ValidationError(
                {"tags": f"{tag!r} is not a tag: 1–64 letters, digits or . _ - : / +, without spaces."}
            )
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise ValidationError({"tags": f"At most {MAX_TAGS} tags per run."})
    return cleaned


def run_annotate(*, user, run: Run, tags: object = None, notes: str | None = None) -> Run:
    """Set a run's ``tags`` and/or ``notes`` (``None`` leaves one as it is); returns the run.

    Side effects: one UPDATE of those columns (and ``updated_at``).
    """
    workspace_require_role(user=user, workspace=run.workspace, role=Role.EDITOR)
    archive_require_active(workspace=run.workspace, project=run.project, experiment=run.experiment)
    fields: dict[str, object] = {}
    if tags is not None:
        fields["tags"] = run_tags_clean(tags)
    if notes is not None:
        if not isinstance(notes, str):
            raise ValidationError({"notes": "Notes are text (Markdown)."})
        if len(notes) > MAX_NOTES:
            raise ValidationError({"notes": f"Notes are at most {MAX_NOTES} characters."})
        fields["notes"] = notes
    if fields:
        for key, value in fields.items():
            setattr(run, key, value)
        run.save(update_fields=[*fields, "updated_at"])
    return run
