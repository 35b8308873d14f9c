"""Writes of the asset catalog: the only code that stores asset bytes and rows.

``core`` holds the content-addressed blob store, versioned asset registration,
logs, checkpoints, error traces and run-time lookups. Further modules add data
libraries and uploads. Callers import from ``assets_app.services``; each
module's docstring states its invariants.
"""

from .core import (
    AssetLookupError,
    StoredBlob,
    asset_create,
    asset_name_clean,
    asset_resolve_for_run,
    asset_use_record,
    blob_store_bytes,
    blob_store_chunks,
    blob_store_fileobj,
    blob_store_path,
    checkpoint_create,
    data_asset_add_file,
    error_fingerprint,
    error_trace_create,
    log_append_lines,
    log_finalize,
    log_open,
    log_tail,
)

__all__ = [
    "AssetLookupError",
    "StoredBlob",
    "asset_create",
    "asset_name_clean",
    "asset_resolve_for_run",
    "asset_use_record",
    "blob_store_bytes",
    "blob_store_chunks",
    "blob_store_fileobj",
    "blob_store_path",
    "checkpoint_create",
    "data_asset_add_file",
    "error_fingerprint",
    "error_trace_create",
    "log_append_lines",
    "log_finalize",
    "log_open",
    "log_tail",
]
