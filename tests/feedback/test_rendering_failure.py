"""A templated send whose data lacks a variable: SES accepts it, sends nothing and publishes a
Rendering Failure. The recipients are failed and stay out of the rates (real sandbox
traffic, the real worker, both stores)."""

from __future__ import annotations

import datetime as dt

from courrier.aws.ses import SesClient
from courrier.aws.sqs import SqsQueue
from courrier.feedback.worker import Worker
from courrier.message import AddressLike, Message
from courrier.reputation import window
from courrier.sending import Mailer, Pacer
from courrier.settings import Settings
from courrier.statuses import Action, RecipientStatus
from courrier.store import Store
from courrier.store.search import message_detail
from courrier.template_message import TemplateMessage
from tests.conftest import SENDER, SandboxClient
from tests.sandbox.helpers import CONFIG_SET, events_route

NOT_RENDERED: list[AddressLike] = ["first@example.com", "second@example.com"]


def test_a_rendering_failure_fails_its_recipients_and_leaves_the_rates(
    env: SandboxClient, store: Store
) -> None:
    env.set_account(production=True)
    pipeline = env.pipeline()
    events_route(env, pipeline)
    env.sesv2.create_email_template(
        TemplateName="welcome", TemplateContent={"Subject": "Hi {{name}}", "Text": "x"}
    )
    mailer = Mailer(store, SesClient(), pacer=Pacer(1000))
    missing = mailer.send(
        TemplateMessage(
            sender=SENDER,
            template="welcome",
            to=NOT_RENDERED,
            data={"other": "x"},
            configuration_set=CONFIG_SET,
        )
    )
    rendered = mailer.send(
        TemplateMessage(
            sender=SENDER,
            template="welcome",
            to=["reader@example.com"],
            data={"name": "Ada"},
            configuration_set=CONFIG_SET,
        )
    )
    plain = mailer.send(
        Message(
            sender=SENDER,
            to=["other@example.com"],
            subject="s",
            text="x",
            configuration_set=CONFIG_SET,
        )
    )
    env.drain()

    worker = Worker(SqsQueue(pipeline.queue_url), store, wait_seconds=0)
    worker.run(until_idle=True)
    assert worker.stats.rejected == 0

    def statuses(message_id: int) -> dict[str, str]:
        record = store.message(message_id)
        assert record is not None
        return {r.address: r.status for r in record.recipients}

    assert statuses(missing.id) == dict.fromkeys(NOT_RENDERED, RecipientStatus.FAILED)
    assert statuses(rendered.id) == {"reader@example.com": RecipientStatus.DELIVERED}
    assert statuses(plain.id) == {"other@example.com": RecipientStatus.DELIVERED}
    detail = message_detail(store, missing.id)
    assert detail is not None
    failures = [e for e in detail.events if e.kind == "Rendering Failure"]
    assert sorted(e.recipient or "" for e in failures) == NOT_RENDERED
    assert {e.action for e in failures} == {Action.FAIL}

    figures = window(
        store, Settings(database_url="unused"), now=dt.datetime.now(dt.UTC)
    ).figures.counts
    assert figures.recipients == 4
    assert figures.rendering_failures == 2
    assert figures.counted_recipients == 2  # the two that SES did send
    assert figures.complaint_recipients == 2
