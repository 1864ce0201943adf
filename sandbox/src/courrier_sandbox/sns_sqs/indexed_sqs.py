"""SQS whose cost does not grow with queue depth.

moto keeps a queue's messages in a list and scans all of it on each receive (several times:
the visible-message list, then the queue's attributes for every returned message) and on each
delete. :class:`IndexedSQSBackend` keeps an index beside moto's data: ready messages in
arrival order, a heap of in-flight and delayed messages keyed by the time they become
visible, and receipt handles in a dict. Hooked at one place: the backend class of
``moto.sqs.models.sqs_backends``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from typing import Any

from moto.core.utils import unix_time, unix_time_millis
from moto.sqs import models as sqs_models
from moto.sqs.exceptions import ReceiptHandleIsInvalid

Message = sqs_models.Message
Queue = sqs_models.Queue


class QueueIndex:
    """Stands in for moto's ``Queue._messages`` list, with the indexes receive/delete need.

    moto's own code keeps working on it through the list methods it uses (``append``,
    ``remove``, iteration, ``len``). Three disjoint groups: ready (arrival order), in flight
    (heap by the time they become visible again) and delayed (heap by the end of the delay).
    Heap entries carry the message's sequence number; an entry whose number is stale (the
    message was received again or removed) is skipped when it surfaces.
    """

    def __init__(self, messages: list[Message] | None = None) -> None:
        self._lock = threading.RLock()
        self._seq = itertools.count()
        self._all: dict[Message, int] = {}
        self._ready: dict[Message, None] = {}
        self._in_flight: list[tuple[float, int, Message]] = []
        self._delayed: list[tuple[float, int, Message]] = []
        self._delayed_count = 0
        self._handles: dict[str, Message] = {}
        for message in messages or []:
            self.append(message)

    # The list protocol moto's Queue uses.
    def append(self, message: Message) -> None:
        with self._lock:
            seq = next(self._seq)
            self._all[message] = seq
            if message.delayed_until >= unix_time_millis():
                heapq.heappush(self._delayed, (message.delayed_until, seq, message))
                self._delayed_count += 1
            else:
                self._park(message, seq)

    def remove(self, message: Message) -> None:
        with self._lock:
            if self._all.pop(message, None) is None:
                raise ValueError("message not in queue")
            self._ready.pop(message, None)
            for handle in message.all_receipt_handles:
                if handle is not None:
                    self._handles.pop(handle, None)

    def __iter__(self) -> Iterator[Message]:
        with self._lock:
            return iter(list(self._all))

    def __len__(self) -> int:
        return len(self._all)

    def __bool__(self) -> bool:
        return bool(self._all)

    # Indexed operations.
    def _park(self, message: Message, seq: int) -> None:
        """Ready now, or in flight until its visibility timeout ends."""
        if message.visible_at < unix_time_millis():
            self._ready[message] = None
        else:
            heapq.heappush(self._in_flight, (message.visible_at, seq, message))

    def _promote(self) -> None:
        now = unix_time_millis()
        while self._delayed and self._delayed[0][0] < now:
            _, seq, message = heapq.heappop(self._delayed)
            self._delayed_count -= 1
            if self._all.get(message) == seq:
                self._park(message, seq)
        while self._in_flight and self._in_flight[0][0] < now:
            _, seq, message = heapq.heappop(self._in_flight)
            if self._all.get(message) == seq:
                self._park(message, seq)

    def ready(self, count: int) -> list[Message]:
        """Up to ``count`` messages that can be received now, oldest first."""
        with self._lock:
            self._promote()
            return list(itertools.islice(self._ready, count))

    def received(self, message: Message) -> None:
        with self._lock:
            if message not in self._all:
                return
            self._ready.pop(message, None)
            if message.receipt_handle is not None:
                self._handles[message.receipt_handle] = message
            self._requeue(message)

    def _requeue(self, message: Message) -> None:
        seq = next(self._seq)
        self._all[message] = seq
        self._park(message, seq)

    def visibility_changed(self, message: Message) -> None:
        with self._lock:
            if message not in self._all:
                return
            self._ready.pop(message, None)
            self._requeue(message)

    def by_handle(self, handle: str) -> Message | None:
        with self._lock:
            return self._handles.get(handle)

    def has_ready(self) -> bool:
        with self._lock:
            self._promote()
            return bool(self._ready)

    def counts(self) -> tuple[int, int, int]:
        """(visible, in flight, delayed), without scanning."""
        with self._lock:
            self._promote()
            delayed = self._delayed_count
            return len(self._ready), len(self._all) - len(self._ready) - delayed, delayed


class IndexedQueue(Queue):
    """A standard queue whose message counts come from its index.

    moto recomputes every attribute, message counts included, on each SendMessage (to read
    ``ContentBasedDeduplication``) and twice for each received message; counting by scan
    made sends and receives O(depth).
    """

    @property
    def approximate_number_of_messages(self) -> int:
        return _index_of(self).counts()[0]

    @property
    def approximate_number_of_messages_not_visible(self) -> int:
        return _index_of(self).counts()[1]

    @property
    def approximate_number_of_messages_delayed(self) -> int:
        return _index_of(self).counts()[2]

    @property
    def messages(self) -> list[Message]:
        index = _index_of(self)
        return index.ready(len(index))


def _index_of(queue: Queue) -> QueueIndex:
    messages = queue._messages
    if isinstance(messages, QueueIndex):
        return messages
    index = QueueIndex(list(messages))
    # moto annotates the attribute as a list; QueueIndex offers the list methods moto uses.
    queue._messages = index  # type: ignore[assignment]
    # moto creates the Queue; the subclass only swaps three count properties and `messages`.
    queue.__class__ = IndexedQueue  # type: ignore[type-abstract]
    return index


class IndexedSQSBackend(sqs_models.SQSBackend):
    """moto's SQS backend with receive, delete and visibility changes served from an index.

    FIFO queues keep moto's own code paths: their group ordering rules are what moto models,
    and the workloads that need depth are standard queues.
    """

    @property
    def _url_module(self) -> Any:
        # moto finds a backend's URL table next to the backend class's module.
        from moto.sqs import urls

        return urls

    def create_queue(self, name: str, tags: dict[str, str] | None = None, **kwargs: Any) -> Queue:
        queue = super().create_queue(name, tags=tags, **kwargs)
        if not queue.fifo_queue:
            _index_of(queue)
        return queue

    def receive_message(
        self,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> list[Message]:
        queue = self.get_queue(queue_name)
        if queue.fifo_queue:
            return super().receive_message(
                queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names
            )
        index = _index_of(queue)
        deadline = unix_time() + (wait_seconds_timeout or 0)
        retention = int(getattr(queue, "message_retention_period", 345600))
        redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
        while True:
            # Finding ready messages and marking them received is one step: two concurrent
            # receives must never both take a message (SQS hides it once it is received).
            with queue._messages_lock:
                result = self._take(
                    queue,
                    index,
                    count,
                    visibility_timeout,
                    retention,
                    redrive,
                    message_attribute_names or [],
                )
            if result or not wait_seconds_timeout or unix_time() >= deadline:
                return result
            with queue._messages_lock:
                queue._messages_lock.wait_for(
                    index.has_ready, timeout=min(1.0, deadline - unix_time())
                )

    def _take(
        self,
        queue: Queue,
        index: QueueIndex,
        count: int,
        visibility_timeout: int,
        retention: int,
        redrive: dict[str, Any] | None,
        attribute_names: list[str],
    ) -> list[Message]:
        result: list[Message] = []
        taken: set[Message] = set()
        dead_letter_queue = queue.dead_letter_queue
        now = unix_time()
        while len(result) < count:
            # Each pass takes only as many as are still wanted; a message that expired or
            # goes to the dead-letter queue leaves the index, so the next pass sees others.
            # With a zero visibility timeout a taken message is ready again at once: one
            # receive never returns it twice.
            batch = [m for m in index.ready(count - len(result) + len(taken)) if m not in taken]
            if not batch:
                break
            for message in batch[: count - len(result)]:
                taken.add(message)
                if (message.sent_timestamp or 0) / 1000 + retention <= now:
                    index.remove(message)
                elif (
                    redrive
                    and dead_letter_queue is not None
                    and (message.approximate_receive_count >= redrive["maxReceiveCount"])
                ):
                    index.remove(message)
                    queue.pending_messages.discard(message)
                    dead_letter_queue.add_message(message)
                else:
                    queue.pending_messages.add(message)
                    message.mark_received(visibility_timeout=visibility_timeout)
                    index.received(message)
                    copy = _copy_for_response(message)
                    sqs_models._filter_message_attributes(copy, attribute_names)
                    result.append(copy)
        return result

    def delete_message(self, queue_name: str, receipt_handle: str) -> None:
        queue = self.get_queue(queue_name)
        if queue.fifo_queue:
            super().delete_message(queue_name, receipt_handle)
            return
        if receipt_handle in queue.deleted_messages:
            return
        index = _index_of(queue)
        message = index.by_handle(receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid()
        index.remove(message)
        queue.pending_messages.discard(message)
        queue.deleted_messages.update(h for h in message.all_receipt_handles if h)

    def change_message_visibility(
        self, queue_name: str, receipt_handle: str, visibility_timeout: int
    ) -> None:
        queue = self.get_queue(queue_name)
        if queue.fifo_queue:
            super().change_message_visibility(queue_name, receipt_handle, visibility_timeout)
            return
        index = _index_of(queue)
        message = index.by_handle(receipt_handle)
        if message is None:
            raise ReceiptHandleIsInvalid()
        # The 12-hour limit and the pending bookkeeping are moto's; reuse them on the one message.
        saved = queue._messages
        queue._messages = [message]
        try:
            super().change_message_visibility(queue_name, receipt_handle, visibility_timeout)
        finally:
            queue._messages = saved
        index.visibility_changed(message)
        with queue._messages_lock:
            queue._messages_lock.notify_all()

    def set_queue_attributes(self, queue_name: str, attributes: dict[str, Any]) -> Queue:
        # moto resets the queue policy whenever SetQueueAttributes omits ``Policy``; AWS
        # leaves attributes that a call does not name untouched.
        queue = self.get_queue(queue_name)
        if "Policy" not in attributes and queue.policy:
            attributes = {**attributes, "Policy": queue.policy}
        return super().set_queue_attributes(queue_name, attributes)

    def purge_queue(self, queue_name: str) -> None:
        super().purge_queue(queue_name)
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue:
            queue._messages = QueueIndex()  # type: ignore[assignment]


def _copy_for_response(message: Message) -> Message:
    # moto deep-copies each received message so that filtering attributes for the response
    # does not touch the stored one; a shallow copy with its own attribute dict is enough.
    copy = object.__new__(type(message))
    copy.__dict__.update(message.__dict__)
    copy.message_attributes = dict(message.message_attributes)
    return copy


def install() -> None:
    sqs_models.sqs_backends.backend = IndexedSQSBackend
    for account_backends in sqs_models.sqs_backends.values():
        account_backends.backend = IndexedSQSBackend
