"""System checks (``manage.py check``, ``runserver``): only server workflow code runs (SPEC §12).

``molexp.E001``: a workflow directory overlaps a folder whose bytes come from
users or from runs (``MEDIA_ROOT``, ``MOLEXP_UPLOAD_DIR``, ``MOLEXP_WORK_DIR``,
``MOLEXP_VAR_DIR``), in either direction. Uploaded or run-written files could
then sit where workflows are discovered. The resolver refuses such files anyway
(``selectors.path_in_server_data``); the check tells the operator at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core import checks

from .selectors import server_data_dirs


@checks.register(checks.Tags.security)
def workflow_dirs_apart_from_data(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    for directory in settings.MOLEXP_WORKFLOW_DIRS:
        root = Path(os.path.realpath(directory))
        for data in server_data_dirs():
            if root == data or root.is_relative_to(data) or data.is_relative_to(root):
                errors.append(
                    checks.Error(
                        f"Workflow directory {directory} overlaps {data}, a folder of uploaded or run-written files.",
                        hint="Keep MOLEXP_WORKFLOW_DIRS apart from MEDIA_ROOT, MOLEXP_UPLOAD_DIR, MOLEXP_WORK_DIR "
                        "and MOLEXP_VAR_DIR: only code the server's operators put in the workflow folders may run.",
                        id="molexp.E001",
                    )
                )
    return errors
