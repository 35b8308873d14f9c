"""Enumerations of assets_app."""

from django.db import models


class AssetKind(models.TextChoices):
    DATA = "data", "Data"
    ARTIFACT = "artifact", "Artifact"
    LOG = "log", "Log"
    CHECKPOINT = "checkpoint", "Checkpoint"
    ERROR_TRACE = "error_trace", "Error trace"


class ScopeKind(models.TextChoices):
    WORKSPACE = "workspace", "Workspace"
    PROJECT = "project", "Project"
    EXPERIMENT = "experiment", "Experiment"
    RUN = "run", "Run"


class ImportAction(models.TextChoices):
    UPLOAD = "upload", "Upload"
    COPY = "copy", "Copy"
    MOVE = "move", "Move"
    SYMLINK = "symlink", "Symlink"
    HARDLINK = "hardlink", "Hardlink"


class UploadStatus(models.TextChoices):
    RECEIVING = "receiving", "Receiving"
    COMPLETE = "complete", "Complete"
    FAILED = "failed", "Failed"
    ABORTED = "aborted", "Aborted"
    EXPIRED = "expired", "Expired"
