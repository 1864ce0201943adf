"""Prometheus metrics for the worker, the Mailer and the dashboard (``courrier[metrics]``).

Counters come from the process that does the work: the worker's loop (as a
:class:`~courrier.feedback.observer.WorkerObserver`) and the Mailer's retries. Gauges that
describe shared state are read when scraped, at most every ``SAMPLE_SECONDS``: messages by
status, the window's bounce and complaint rates and the guard (from the store), and the
depth of the feedback queue and its dead-letter queue (from SQS). Every process can expose
them: ``courrier worker --metrics-port P``, ``courrier dashboard`` at ``/metrics``, or
:meth:`Metrics.serve` in your own sending process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from courrier.aws.sqs import SqsQueue
from courrier.clock import Clock
from courrier.errors import AwsError, CourrierError, StoreError, Throttled
from courrier.feedback.apply import Applied
from courrier.feedback.events import Event
from courrier.feedback.observer import WorkerObserver
from courrier.reputation.stats import window
from courrier.settings import Settings
from courrier.store import Store
from courrier.store.guard import open_trip
from courrier.store.stats import messages_by_status

__all__ = ["SAMPLE_SECONDS", "Metrics"]

#: How old a sampled gauge may be: scrapes never hammer the store or SQS.
SAMPLE_SECONDS = 15.0


class _Sampled(Collector):
    """A collector whose families are rebuilt at most every ``SAMPLE_SECONDS``."""

    def __init__(self, sample: Callable[[], list[Metric]], clock: Clock) -> None:
        self._sample = sample
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterable[Metric]:
        now = self._clock()
        with self._lock:
            if self._cached is None or now - self._cached[0] >= SAMPLE_SECONDS:
                try:
                    self._cached = (now, self._sample())
                except CourrierError:
                    # The store or SQS is down: say nothing rather than fail the scrape.
                    self._cached = (now, [])
            return list(self._cached[1])


#: How many SES tenants get a label of their own in ``courrier_tenant_feedback_events``; the
#: events of the tenants seen after them are counted under ``other``, so that a platform
#: with thousands of tenants does not make thousands of series.
MAX_TENANT_LABELS = 50
OTHER_TENANTS = "other"


class Metrics(WorkerObserver):
    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Clock = time.monotonic,
        max_tenant_labels: int = MAX_TENANT_LABELS,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self._clock = clock
        self._max_tenant_labels = max_tenant_labels
        #: The tenants with a label of their own: the first ``max_tenant_labels`` seen.
        self._tenant_labels: set[str] = set()
        self._tenant_lock = threading.Lock()
        r = self.registry
        self.events = Counter(
            "courrier_feedback_events",
            "Feedback events applied, by kind and subtype",
            ["kind", "subtype"],
            registry=r,
        )
        self.tenant_events = Counter(
            "courrier_tenant_feedback_events",
            "Feedback events of SES tenants' messages, by tenant (the first "
            f"{max_tenant_labels} seen, the others as '{OTHER_TENANTS}') and kind",
            ["tenant", "kind"],
            registry=r,
        )
        self.duplicates = Counter(
            "courrier_feedback_duplicates", "Redelivered events that changed nothing", registry=r
        )
        self.suppressions = Counter(
            "courrier_suppressions_added", "Addresses suppressed by feedback", registry=r
        )
        self.batches = Counter("courrier_worker_batches", "Batches committed", registry=r)
        self.poll_errors = Counter(
            "courrier_worker_poll_errors", "SQS receives that failed", registry=r
        )
        self.dead_letter = Counter(
            "courrier_worker_left_for_dead_letter",
            "Messages left on the queue for its redrive policy (undecodable, untrusted)",
            registry=r,
        )
        self.store_errors = Counter(
            "courrier_worker_store_errors",
            "Batches kept and retried after a database error",
            registry=r,
        )
        self.send_retries = Counter(
            "courrier_send_retries",
            "Sends retried with backoff, by reason (throttled, unreachable)",
            ["reason"],
            registry=r,
        )

    # ---------------------------------------------------------------- worker hooks

    def applied(self, applied: Applied) -> None:
        self.batches.inc()
        for event, _action in applied.stored:
            self.events.labels(event.kind, _subtype_label(event)).inc()
            if event.tenant:
                self.tenant_events.labels(self.tenant_label(event.tenant), event.kind).inc()
        self.duplicates.inc(applied.duplicates)
        self.suppressions.inc(len(applied.suppressed))

    def tenant_label(self, tenant: str) -> str:
        """``tenant`` while fewer than ``max_tenant_labels`` tenants have a label, and for
        those that do; ``other`` for every tenant after them."""
        with self._tenant_lock:
            if tenant in self._tenant_labels:
                return tenant
            if len(self._tenant_labels) < self._max_tenant_labels:
                self._tenant_labels.add(tenant)
                return tenant
        return OTHER_TENANTS

    def poll_failed(self, error: AwsError) -> None:
        self.poll_errors.inc()

    def rejected(self, message_id: str, error: CourrierError) -> None:
        self.dead_letter.inc()

    def store_failed(self, error: StoreError) -> None:
        self.store_errors.inc()

    # ---------------------------------------------------------------- Mailer hook

    def send_retried(self, error: CourrierError, delay: float) -> None:
        """Pass as ``Mailer(on_retry=...)``."""
        reason = "throttled" if isinstance(error, Throttled) else "unreachable"
        self.send_retries.labels(reason).inc()

    # ---------------------------------------------------------------- sampled state

    def watch_store(self, store: Store, settings: Settings) -> None:
        """Messages by status, the window's rates and the guard, read when scraped."""

        def sample() -> list[Metric]:
            messages = GaugeMetricFamily(
                "courrier_messages", "Messages in the store, by status", labels=["status"]
            )
            for status, count in sorted(messages_by_status(store).items()):
                messages.add_metric([status], count)
            figures = window(store, settings).figures
            families: list[Metric] = [messages]
            for name, value, help_text in (
                ("courrier_bounce_rate", figures.bounce_rate, "Bounce rate as SES counts it"),
                (
                    "courrier_complaint_rate",
                    figures.complaint_rate,
                    "Complaint rate as SES counts it",
                ),
            ):
                if value is not None:  # no rate yet: no sample, rather than a made-up 0
                    families.append(GaugeMetricFamily(name, help_text, value=value))
            families.append(
                GaugeMetricFamily(
                    "courrier_window_recipients",
                    "Recipients the window's bounce rate is counted over",
                    value=figures.counts.counted_recipients,
                )
            )
            families.append(
                GaugeMetricFamily(
                    "courrier_guard_tripped",
                    "1 while the reputation guard refuses bulk sends",
                    value=1 if open_trip(store) else 0,
                )
            )
            return families

        self.registry.register(_Sampled(sample, self._clock))

    def watch_queues(self, queues: Mapping[str, SqsQueue]) -> None:
        """The approximate depth of each queue (``feedback``, ``dead_letter``), sampled."""

        def sample() -> list[Metric]:
            depth = GaugeMetricFamily(
                "courrier_queue_messages",
                "Messages waiting in the queue (ApproximateNumberOfMessages)",
                labels=["queue"],
            )
            for name, queue in queues.items():
                attributes = queue.attributes("ApproximateNumberOfMessages")
                depth.add_metric([name], float(attributes.get("ApproximateNumberOfMessages", 0)))
            return [depth]

        self.registry.register(_Sampled(sample, self._clock))

    # ---------------------------------------------------------------- exposition

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return bytes(generate_latest(self.registry))

    def serve(self, port: int, host: str = "127.0.0.1") -> MetricsServer:
        """Serve ``/metrics`` on a background thread until ``close()``."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsServer(server, thread)


class MetricsServer:
    def __init__(self, server: Any, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


#: Kinds whose subtype comes from a small fixed set. Others (a Click's link, a template
#: name, an unknown type's name) would give every value its own time series.
_BOUNDED_SUBTYPES = frozenset({"Bounce", "Complaint", "DeliveryDelay", "Reject"})


def _subtype_label(event: Event) -> str:
    return (event.subtype or "") if event.kind in _BOUNDED_SUBTYPES else ""
