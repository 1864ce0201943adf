"""What every part of the sandbox's SES shares: options, the caller, state per region.

:class:`~courrier_sandbox.ses.service.SesService` is assembled from one class per concept
(identities, configuration sets, contact lists, the account), each built on
:class:`SesCore`. Errors are raised as :class:`SesFault` with a protocol-neutral ``kind``;
each wire adapter maps kinds to its own codes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from courrier_sandbox.ses.state import Account, RegionState
from courrier_sandbox.simulation.feedback import FeedbackRouter, Origin, Scheduler
from courrier_sandbox.simulation.mail import Mail
from courrier_sandbox.simulation.mailbox import Mailbox
from courrier_sandbox.simulation.recipient_rules import RecipientRules
from courrier_sandbox.simulation.simulator import Feedback, SimulatorOptions

#: Sent messages remembered for their open, click and unsubscribe links (only those that
#: have such links are kept).
SENT_KEPT = 10_000


@dataclass(frozen=True)
class SesOptions:
    production: bool = False
    max_send_rate: float | None = None
    #: Messages accepted at once over the rate; None: ``ses.state.default_burst`` of the rate.
    max_send_burst: float | None = None
    max_24_hour_send: float | None = None
    pending_identities: bool = False
    simulator: SimulatorOptions = field(default_factory=SimulatorOptions)

    def new_account(self) -> Account:
        # A new account starts in the SES sandbox: 200 messages a day, 1 per second
        # (docs/ses.md#sandbox-account).
        default_rate, default_quota = (14.0, 50000.0) if self.production else (1.0, 200.0)
        return Account(
            production=self.production,
            max_send_rate=self.max_send_rate if self.max_send_rate is not None else default_rate,
            max_24_hour_send=(
                self.max_24_hour_send if self.max_24_hour_send is not None else default_quota
            ),
            max_send_burst=self.max_send_burst,
        )


@dataclass(frozen=True)
class Accepted:
    message_id: str
    release: Callable[[], None]


@dataclass(frozen=True)
class Caller:
    account: str
    region: str
    api: str  # "v1" | "v2" | "smtp"
    identity: str = "sandbox-user"
    source_ip: str = "127.0.0.1"
    #: The sandbox's URL as the caller reached it: where open, click and unsubscribe links go.
    endpoint: str = "http://127.0.0.1:4566"

    @property
    def origin(self) -> Origin:
        return Origin(self.account, self.region)


@dataclass(frozen=True)
class SentMail:
    """A message SES accepted, with what its later events need."""

    state: RegionState
    origin: Origin
    mail: Mail


class SesCore:
    def __init__(
        self,
        options: SesOptions,
        router_factory: Callable[[threading.RLock, Callable[[], None]], FeedbackRouter],
        mailbox: Mailbox,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.options = options
        self.lock = threading.RLock()
        self.regions: dict[tuple[str, str], RegionState] = {}
        self.mailbox = mailbox
        self._on_change = on_change
        self.router = router_factory(self.lock, self.changed)
        self.scheduler = Scheduler()
        self.recipient_rules = RecipientRules()
        self._sent: OrderedDict[str, SentMail] = OrderedDict()

    def changed(self) -> None:
        self._on_change()

    def state(self, caller: Caller) -> RegionState:
        key = (caller.account, caller.region)
        with self.lock:
            if key not in self.regions:
                self.regions[key] = RegionState(account=self.options.new_account())
            return self.regions[key]

    def existing_state(self, account: str, region: str) -> RegionState | None:
        with self.lock:
            return self.regions.get((account, region))

    def remember(self, sent: SentMail) -> None:
        """Keep a message whose copies carry tracking or unsubscribe links."""
        mail = sent.mail
        if not (mail.open_tracked or mail.links or mail.list_management):
            return
        with self.lock:
            self._sent[mail.message_id] = sent
            while len(self._sent) > SENT_KEPT:
                self._sent.popitem(last=False)

    def remembered(self, message_id: str) -> SentMail | None:
        with self.lock:
            return self._sent.get(message_id)

    def forget_everything(self) -> None:
        with self.lock:
            self.regions.clear()
            self._sent.clear()
        self.recipient_rules.clear()

    def _publish_now(self, sent: SentMail, kind: str, body: dict[str, Any]) -> None:
        self.router.publish(sent.state, sent.origin, sent.mail, Feedback(kind, body, 0.0))
