"""The runs table's column chooser (SPEC §15): which columns a user hides in an experiment.

Invariants: one row per (user, experiment) (``runtablepref_unique_user_experiment``), written by
``run_table_columns_save`` only; the caller got ``experiment`` from a scoped lookup, so any
member who can read the experiment may keep their own choice (viewers included).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from ..access import User
from ..models import Experiment, RunTablePreference

#: Most column keys remembered per user and experiment; the longest key kept.
MAX_HIDDEN = 500
MAX_KEY = 300


def run_table_columns_save(
    *, user: User, experiment: Experiment, offered: list[str], shown: list[str]
) -> RunTablePreference:
    """Hide the ``offered`` columns not in ``shown``; columns not offered keep their earlier choice."""
    if len(offered) > MAX_HIDDEN or any(not isinstance(k, str) or len(k) > MAX_KEY for k in offered):
        raise ValidationError("Too many or too long column names.")
    pref, _ = RunTablePreference.objects.get_or_create(user=user, experiment=experiment)
    offered_set, shown_set = set(offered), set(shown)
    hidden = [k for k in pref.hidden if isinstance(k, str) and k not in offered_set]
    hidden += [k for k in offered if k not in shown_set]
    pref.hidden = list(dict.fromkeys(hidden))[-MAX_HIDDEN:]
    pref.save(update_fields=["hidden", "updated_at"])
    return pref
