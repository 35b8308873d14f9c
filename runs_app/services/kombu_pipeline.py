"""Pipelined publishing on kombu's Redis transport: the one place that touches kombu internals.

Entry point: :func:`pipelined_publishing`. While it is active, a kombu Redis channel's
``_put`` (one LPUSH round trip per message) queues its LPUSH on one redis-py pipeline
instead, and ``flush()`` sends them all in one round trip.

Pinned to **kombu 5.5.4** (``requirements.txt``). It relies on these private parts of
``kombu.transport.redis`` (checked by ``tests/runs_app/test_dispatch.py``, which fails on
another kombu version so that this module is re-read before the pin moves):

- ``Channel._put(queue, message, **kwargs)``: the method ``basic_publish`` calls for each
  message; shadowed here by an instance attribute, for that channel only, while active.
- ``Channel._get_message_priority(message, reverse=False)`` and
  ``Channel._q_for_pri(queue, pri)``: the key kombu's own ``_put`` LPUSHes to.
- ``Channel._create_client()`` and ``Channel.pool``: a client of the channel's publishing
  connection pool (made once per channel and pool, kept on the channel).
- ``Channel.global_keyprefix``: with a prefix kombu rewrites keys itself, so the pipeline
  is not used (messages go out one by one).
- ``kombu.transport.redis.dumps``: kombu's message serialization.

Invariants:
- The LPUSH is exactly kombu's own (same key, priority and serialization); only the
  round trips are batched.
- Any other transport (the embedded ``filesystem://`` one) is left alone: ``active`` is
  False and ``flush()`` does nothing, so messages go out one by one as before.
- On exit the channel's own ``_put`` is restored and unsent commands are discarded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Where a channel keeps its pipelining client (an instance attribute of the kombu channel).
_CLIENT = "_molexp_pipeline_client"


class _PipelinedPut:
    """Shadows a Redis channel's ``_put`` with a pipelined LPUSH while entered (see the module docstring)."""

    def __init__(self, producer: Any) -> None:
        self.channel = None
        self.pipe = None
        try:
            from kombu.transport import redis as kombu_redis
        except ImportError:  # pragma: no cover - redis is a dependency of the production stack
            return
        channel = getattr(producer, "channel", None)
        if isinstance(channel, kombu_redis.Channel) and not getattr(channel, "global_keyprefix", ""):
            self.channel = channel

    @property
    def active(self) -> bool:
        """True when messages are pipelined (a Redis channel without key prefix)."""
        return self.channel is not None

    def __enter__(self) -> _PipelinedPut:
        if self.channel is not None:
            from kombu.transport.redis import dumps

            channel = self.channel
            # The channel's own publishing pool (the one its _put uses), not its async consumer client.
            # The client is kept on the channel while the channel keeps that pool: building a redis-py
            # client fills its response-callback tables (a third of a one-run dispatch's CPU).
            client = channel.__dict__.get(_CLIENT)
            if client is None or client.connection_pool is not channel.pool:
                client = channel.__dict__[_CLIENT] = channel._create_client()
            self.pipe = client.pipeline(transaction=False)
            pipe = self.pipe

            def _put(queue, message, **kwargs):
                pri = channel._get_message_priority(message, reverse=False)
                pipe.lpush(channel._q_for_pri(queue, pri), dumps(message))

            channel._put = _put  # instance attribute: shadows the method for this channel only
        return self

    def flush(self) -> None:
        """Send the queued LPUSHes in one round trip (nothing when inactive or empty); raises broker errors."""
        if self.pipe is not None and len(self.pipe):
            self.pipe.execute()

    def __exit__(self, *exc: object) -> None:
        if self.channel is not None:
            self.channel.__dict__.pop("_put", None)
            if self.pipe is not None:
                self.pipe.reset()
        return None


@contextmanager
def pipelined_publishing(producer: Any) -> Iterator[_PipelinedPut]:
    """Batch the messages ``producer`` publishes into Redis pipelines until ``flush()``.

    Yields an object with ``active`` (False for a non-Redis transport: messages are then
    sent at once, as usual) and ``flush()`` (send what is queued, one round trip). Messages
    still queued when the block exits are *not* sent: flush before leaving.
    """
    with _PipelinedPut(producer) as pipelined:
        yield pipelined
