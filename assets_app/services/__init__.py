"""Writes of the asset catalog: the only code that stores asset bytes and rows.

``runs_app`` reaches assets only through this package (writes) and
``assets_app.selectors`` (reads), SPEC §1. Callers import from
``assets_app.services``; each module holds one concern and its docstring states
its invariants:

- ``blobs``: the content-addressed blob store and the storage probe; ``blob_claims`` and
  ``blob_gc``: writers' claims and the garbage collection of unreferenced bytes.
- ``registration``: asset versions (``asset_create``) and lineage (``asset_use_record``).
- ``logs`` (+ ``log_index``, ``log_sweep``): run logs as segments, then one blob.
- ``run_assets``: what a ``RunContext`` writes and reads (error traces, checkpoints, input lookup).
- ``libraries``: data libraries (``DataLibrary``), built on ``import_sources`` (which
  server paths), ``import_archive`` (directories as one tar) and ``import_actions``
  (copy, move, symlink, hardlink).
- ``uploads``: the tus protocol, with ``upload_errors``, ``upload_partials``,
  ``upload_publish`` and ``upload_sweep``.
- ``code_blobs``: code-bundle files stored by content (the RO-Crate importer, ``runs_app.crate``).
- ``aliases``: aliases of asset versions, editable tags and description (SPEC §14).
- ``quota``: workspace storage quotas (``QuotaExceeded``), over ``assets_app.usage``.
- ``retention``: retention policies (SPEC §14): preview, set, apply (content removed, bytes left to ``blob_gc``).
- ``trash``: delete into the trash, restore, purge (frees bytes via ``blob_gc.blob_free``), expiry (SPEC §14).
"""

from .aliases import alias_clean, asset_alias_set, asset_edit
from .blob_claims import blob_claim
from .blob_gc import GcReport, blob_free, blob_gc
from .blobs import (
    StagedBlob,
    StorageProbeFailed,
    StoredBlob,
    blob_adopt_file,
    blob_stage_chunks,
    blob_store_bytes,
    blob_store_chunks,
    blob_store_fileobj,
    blob_store_path,
    fileobj_chunks,
    storage_ping,
    storage_probe,
)
from .code_blobs import code_blob_claim, code_blob_store
from .import_sources import AssetBytesUnavailable, asset_bytes_open, import_source_resolve
from .libraries import (
    AssetNotFound,
    DataLibrary,
    data_asset_add_file,
    data_asset_get,
    data_asset_import,
    data_asset_upload,
    data_library_for,
    data_library_list,
)
from .logs import LogCountPending, log_append_lines, log_append_payload, log_finalize, log_open, log_tail
from .quota import QuotaExceeded, quota_check_object, quota_check_upload
from .registration import asset_create, asset_name_clean, asset_use_record
from .retention import (
    RetentionPreview,
    retention_apply,
    retention_apply_enabled,
    retention_candidates,
    retention_policy_get,
    retention_policy_set,
    retention_preview,
)
from .run_assets import (
    AssetLookupError,
    asset_resolve_for_run,
    checkpoint_create,
    error_fingerprint,
    error_trace_create,
)
from .trash import (
    TRASHABLE,
    trash_delete_require,
    trash_entry_require_owner,
    trash_expire,
    trash_purge,
    trash_put,
    trash_restore,
)
from .upload_errors import (
    UploadChecksumMismatch,
    UploadError,
    UploadGone,
    UploadIncomplete,
    UploadLocked,
    UploadOffsetMismatch,
    UploadTooLarge,
)
from .upload_publish import upload_outcome
from .upload_sweep import upload_sweep_expired
from .uploads import (
    upload_append,
    upload_create,
    upload_get,
    upload_metadata_parse,
    upload_status,
    upload_terminate,
    upload_workspace_choices,
)

__all__ = [
    "RetentionPreview",
    "retention_apply",
    "retention_apply_enabled",
    "retention_candidates",
    "retention_policy_get",
    "retention_policy_set",
    "retention_preview",
    "TRASHABLE",
    "blob_free",
    "trash_delete_require",
    "trash_entry_require_owner",
    "trash_expire",
    "trash_purge",
    "trash_put",
    "trash_restore",
    "AssetLookupError",
    "LogCountPending",
    "StorageProbeFailed",
    "StoredBlob",
    "StagedBlob",
    "asset_create",
    "asset_name_clean",
    "asset_resolve_for_run",
    "asset_use_record",
    "GcReport",
    "alias_clean",
    "asset_alias_set",
    "asset_edit",
    "QuotaExceeded",
    "quota_check_object",
    "quota_check_upload",
    "blob_claim",
    "blob_gc",
    "blob_store_bytes",
    "blob_store_chunks",
    "blob_store_fileobj",
    "blob_store_path",
    "checkpoint_create",
    "data_asset_add_file",
    "error_fingerprint",
    "error_trace_create",
    "log_append_lines",
    "log_append_payload",
    "log_finalize",
    "log_open",
    "log_tail",
    "storage_ping",
    "storage_probe",
    "code_blob_claim",
    "code_blob_store",
    "AssetBytesUnavailable",
    "AssetNotFound",
    "asset_bytes_open",
    "DataLibrary",
    "data_asset_get",
    "data_asset_import",
    "data_asset_upload",
    "data_library_for",
    "data_library_list",
    "import_source_resolve",
    "UploadChecksumMismatch",
    "UploadError",
    "UploadGone",
    "UploadIncomplete",
    "UploadLocked",
    "UploadOffsetMismatch",
    "UploadTooLarge",
    "blob_adopt_file",
    "blob_stage_chunks",
    "fileobj_chunks",
    "upload_append",
    "upload_create",
    "upload_get",
    "upload_metadata_parse",
    "upload_outcome",
    "upload_status",
    "upload_sweep_expired",
    "upload_terminate",
    "upload_workspace_choices",
]
