"""Kombu's ``filesystem://`` transport with atomic message files (the embedded default's broker).

Kombu writes a message by opening its final ``<time>_<uuid>.<queue>.msg`` name and then
writing the bytes, so a consumer polling the folder can move and read the file while it is
still empty and crash on the JSON ("Expecting value: line 1 column 1"). Here the bytes go to
a temporary name the consumer never matches, and are renamed into place (atomic on one file
system): a consumer sees a whole message or none.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temporary = os.path.join(self.data_folder_out, f".{uuid.uuid4().hex}.tmp")
        try:
            with open(temporary, "wb") as fh:
                fh.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory: {exc}") from exc
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)


class Transport(filesystem.Transport):
    Channel = Channel
