"""The errors of the tus upload protocol; the API maps ``status`` to the HTTP status code.

Invariant: each refusal has its own class and status, raised before any byte of the
refused request is committed (see ``uploads``).
"""

from __future__ import annotations


class UploadError(Exception):
    """A tus request that cannot be honoured; ``status`` is the HTTP status code to answer."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class UploadGone(UploadError):
    """The upload was terminated, expired or failed: it accepts no more bytes."""

    status = 410


class UploadTooLarge(UploadError):
    """Upload-Length above ``MOLEXP_UPLOAD_MAX_SIZE``, or a chunk past Upload-Length (refused before reading)."""

    status = 413


class UploadOffsetMismatch(UploadError):
    """``Upload-Offset`` differs from the server's committed offset."""

    status = 409


class UploadChecksumMismatch(UploadError):
    """The chunk's digest differs from ``Upload-Checksum``; the chunk was discarded (tus: 460)."""

    status = 460


class UploadLocked(UploadError):
    """Another request is writing to this upload right now."""

    status = 423


class UploadIncomplete(UploadError):
    """The body ended before its Content-Length (client abort); only the bytes received were kept."""

    status = 400
