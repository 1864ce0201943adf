"""The dashboard: Starlette pages over the store, rendered with Jinja2 (autoescaped).

Pages: Overview (rates, guard, charts, last doctor result), Messages (search, one message's
recipients and timeline), Suppressions (filter, add, remove with confirmation, CSV), Account
(SES's view, account-list sync), and ``/metrics`` for Prometheus. Every asset is in the
package; nothing is fetched from elsewhere. See :mod:`courrier.web.security`.
"""

from __future__ import annotations

import csv
import io
import itertools
import logging
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from courrier.addresses import parse_address
from courrier.aws.clients import AwsConfig
from courrier.aws.ses import SesClient
from courrier.errors import CourrierError, InvalidMessage, StoreError
from courrier.message import check_tenant_name
from courrier.metrics import Metrics
from courrier.reputation import AWS_PAUSE, AWS_REVIEW, Guard, sync
from courrier.settings import Settings
from courrier.statuses import RecipientStatus, SuppressionReason
from courrier.store import Store, Suppression
from courrier.store.guard import last_doctor_run, trips
from courrier.store.search import find_messages, message_detail
from courrier.store.suppression_list import (
    count_suppressions,
    get_suppression,
    iter_suppressions,
    page_key,
    suppression_page,
)
from courrier.store.unsubscribes import count_unsubscribes, list_unsubscribes
from courrier.web import charts
from courrier.web.failures import OnceLog, row_id, store_advice
from courrier.web.security import Defences, checked_form, login_response
from courrier.web.unsubscribe import unsubscribe_app

__all__ = ["make_app"]

log = logging.getLogger(__name__)

PAGE = 50
#: The suppressions page counts its matches up to this many and says "more than" beyond:
#: an exact count reads every entry of a list that may hold millions.
COUNTED = 10_000
REASONS = tuple(SuppressionReason)
#: The messages page's filter: a message's status or one of its recipients' (every message
#: status is a recipient status too).
STATUSES = tuple(RecipientStatus)


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("courrier.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["percent"] = percent
    env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M:%S") if v else "-"
    return env


class Dashboard:
    """The pages, over one store, its settings and (lazily) an SES client."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        ses: Callable[[], SesClient] | None = None,
        token: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.token = token
        self._make_ses = ses or (
            lambda: SesClient(AwsConfig(settings.profile, settings.region, settings.read_timeout))
        )
        self._client: SesClient | None = None
        self.guard = Guard(store, settings, account=lambda: self._ses().account())
        self.templates = Jinja2Templates(env=_environment())
        self.metrics = Metrics()
        self.metrics.watch_store(store, settings)
        self.aws_problems = OnceLog()

    def _ses(self) -> SesClient:
        """One client for the app's life (boto3 clients are thread-safe), made on first use."""
        if self._client is None:
            self._client = self._make_ses()
        return self._client

    def render(self, request: Request, name: str, code: int = 200, **context: Any) -> Response:
        context.update(csrf=request.state.csrf, path=request.url.path, login=bool(self.token))
        return self.templates.TemplateResponse(request, name, context, status_code=code)

    # ---------------------------------------------------------------- pages

    def overview(self, request: Request) -> Response:
        # ?tenant=NAME: that tenant's own guard and figures.
        tenant = _tenant(request)
        current = self.guard.status(days=14, tenant=tenant)
        if current.account_error:
            self.aws_problems.warning(f"SES's view is not available: {current.account_error}")
        result = current.report
        lines = {
            "bounce_rate": [
                ("guard", result.trip.bounce, "guard"),
                ("AWS review", AWS_REVIEW.bounce, "review"),
            ],
            "complaint_rate": [
                ("guard", result.trip.complaint, "guard"),
                ("AWS review", AWS_REVIEW.complaint, "review"),
            ],
        }
        return self.render(
            request,
            "overview.html",
            guard=current,
            report=result,
            window=result.window.figures,
            thresholds=result.thresholds(),
            pause=AWS_PAUSE,
            charts=[
                charts.outcomes(result.days),
                charts.rates(result.days, "bounce_rate", lines["bounce_rate"], "Bounce rate"),
                charts.rates(
                    result.days, "complaint_rate", lines["complaint_rate"], "Complaint rate"
                ),
            ],
            doctor=last_doctor_run(self.store),
            history=trips(self.store, limit=5, tenant=tenant),
            tenant=tenant,
        )

    def messages(self, request: Request) -> Response:
        text = _param(request, "q", "")
        status = _param(request, "status", "")
        offset = _number(_param(request, "offset", "0"))
        tenant = _tenant(request) or ""
        found = find_messages(
            self.store, text=text, status=status, limit=PAGE + 1, offset=offset, tenant=tenant
        )
        more = len(found) > PAGE
        query = {"q": text, "status": status, "tenant": tenant}
        return self.render(
            request,
            "messages.html",
            messages=found[:PAGE],
            text=text,
            status=status,
            tenant=tenant,
            statuses=STATUSES,
            next_page=f"?{urlencode({**query, 'offset': offset + PAGE})}" if more else None,
            previous_page=(
                f"?{urlencode({**query, 'offset': max(offset - PAGE, 0)})}" if offset else None
            ),
        )

    def message(self, request: Request) -> Response:
        detail = message_detail(self.store, row_id(request.path_params["id"]))
        if detail is None:
            raise HTTPException(404, "no such message")
        return self.render(request, "message.html", detail=detail)

    def suppressions(self, request: Request, *, error: str = "", code: int = 200) -> Response:
        text = _param(request, "q", "")
        reason = _param(request, "reason", "")
        # ?tenant=NAME: what stops that tenant's mail, its own entries and the account's.
        tenant = _tenant(request)
        after, before = _key(request, "after"), _key(request, "before")
        page = suppression_page(
            self.store,
            text=text,
            reason=reason,
            after=after,
            before=before,
            size=PAGE,
            tenant=tenant,
        )
        query = {"q": text, "reason": reason, "tenant": tenant or ""}
        entries = page.entries
        return self.render(
            request,
            "suppressions.html",
            code=code,
            entries=entries,
            total=count_suppressions(
                self.store, text=text, reason=reason, tenant=tenant, up_to=COUNTED
            ),
            counted=COUNTED,
            text=text,
            reason=reason,
            tenant=tenant or "",
            reasons=REASONS,
            error=error,
            done=_param(request, "done", ""),
            export=f"/suppressions.csv?{urlencode(query)}",
            unsubscribes=list_unsubscribes(self.store, limit=PAGE, tenant=tenant),
            unsubscribe_total=count_unsubscribes(self.store, tenant=tenant),
            next_page=(
                f"?{urlencode({**query, 'after': page_key(entries[-1], tenant=tenant)})}"
                if page.more_after and entries
                else None
            ),
            previous_page=(
                f"?{urlencode({**query, 'before': page_key(entries[0], tenant=tenant)})}"
                if page.more_before and entries
                else None
            ),
        )

    def export(self, request: Request) -> Response:
        tenant = _tenant(request)
        entries = iter_suppressions(
            self.store,
            text=_param(request, "q", ""),
            reason=_param(request, "reason", ""),
            tenant=tenant,
        )
        # The first batch is read here, so a store failure is still a 503 page rather than
        # a download cut short; the rest streams, a batch at a time.
        first = next(entries, None)
        scoped = tenant is not None
        lines = (
            _csv_line(e, scoped=scoped) for e in itertools.chain([first] if first else [], entries)
        )
        return StreamingResponse(
            _chunks(itertools.chain([_csv_header(scoped=scoped)], lines)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="suppressions.csv"'},
        )

    def confirm_remove(self, request: Request) -> Response:
        entry = get_suppression(self.store, _param(request, "address", ""), tenant=_tenant(request))
        if entry is None:
            raise HTTPException(404, "that address is not on the suppression list")
        return self.render(request, "confirm_remove.html", entry=entry)

    async def add(self, request: Request) -> Response:
        form = await checked_form(request)
        reason = _field(form, "reason", SuppressionReason.MANUAL)
        if reason not in REASONS:
            return await run_in_threadpool(
                self.suppressions, request, error=f"unknown reason {reason!r}", code=400
            )
        try:
            address = parse_address(_field(form, "address", "")).email.lower()
        except InvalidMessage as err:
            return await run_in_threadpool(self.suppressions, request, error=str(err), code=400)
        detail = _field(form, "detail", "").strip() or None
        await run_in_threadpool(
            self.store.suppress,
            address,
            reason=reason,
            source=SuppressionReason.MANUAL,
            detail=detail,
        )
        return _back("/suppressions", done=f"suppressed {address}")

    async def remove(self, request: Request) -> Response:
        form = await checked_form(request)
        address = _field(form, "address", "")
        try:
            tenant = check_tenant_name(_field(form, "tenant", "") or None)
        except InvalidMessage as err:
            raise HTTPException(400, str(err)) from err
        removed = await run_in_threadpool(self.store.unsuppress, address, tenant=tenant)
        if tenant is None:
            return _back("/suppressions", done=f"removed {address}" if removed else "")
        done = f"removed {address} for {tenant}" if removed else ""
        return _back("/suppressions", tenant=tenant, done=done)

    def account(self, request: Request, **context: Any) -> Response:
        view, error = self.guard.account_view()
        if error:
            self.aws_problems.warning(f"SES's view is not available: {error}")
        return self.render(request, "account.html", view=view, error=error, **context)

    async def sync(self, request: Request) -> Response:
        form = await checked_form(request)
        pull, push = form.get("pull") == "on", form.get("push") == "on"
        dry_run = form.get("dry_run") == "on"
        try:
            report = await run_in_threadpool(
                lambda: sync(self.store, self._ses(), pull=pull, push=push, dry_run=dry_run)
            )
        except CourrierError as err:
            self.aws_problems.warning(f"account-list sync failed: {err}")
            return await run_in_threadpool(self.account, request, sync_error=str(err))
        return await run_in_threadpool(self.account, request, sync_report=report)

    async def reset_guard(self, request: Request) -> Response:
        form = await checked_form(request)
        note = _field(form, "note", "").strip() or "reset from the dashboard"
        await run_in_threadpool(self.guard.reset, note)
        return _back("/")

    def login_page(self, request: Request) -> Response:
        return self.render(request, "login.html", target=_param(request, "next", "/"))

    async def login(self, request: Request) -> Response:
        form = await checked_form(request)
        return login_response(self.token, _field(form, "token", ""), _field(form, "next", "/"))

    def metrics_page(self, request: Request) -> Response:
        return Response(self.metrics.exposition(), media_type="text/plain; version=0.0.4")

    def store_failed(self, request: Request, err: Exception) -> Response:
        """The page for a store failure on any route: 503 (400 for a refused value)."""
        assert isinstance(err, StoreError)  # registered for StoreError only
        log.error("the store is unavailable (%s %s): %s", request.method, request.url.path, err)
        code, advice = store_advice(err)
        title = "The store is unavailable" if code == 503 else "Refused"
        response = self.render(request, "unavailable.html", code=code, title=title, advice=advice)
        if code == 503:
            response.headers["Retry-After"] = "30"
        return response


def _tenant(request: Request) -> str | None:
    """The ``tenant`` query parameter: None when absent or empty, 400 when no SES tenant
    could have that name."""
    name = _param(request, "tenant", "") or None
    try:
        return check_tenant_name(name)
    except InvalidMessage as err:
        raise HTTPException(400, str(err)) from err


def _param(request: Request, name: str, default: str = "") -> str:
    return _clean(request.query_params.get(name, default))


def _field(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name, default)
    return _clean(value if isinstance(value, str) else default)


def _clean(text: str) -> str:
    # No stored text holds NUL (PostgreSQL refuses it): a NUL in a request can only be noise.
    return text.replace("\x00", "")


def _number(text: str) -> int:
    # Bounded: a database refuses an OFFSET past its integer range, and int() refuses more
    # than 4,300 digits (a ValueError).
    if not (text.isascii() and text.isdigit()):
        return 0
    return 10**9 if len(text) > 10 else min(int(text), 10**9)


def _key(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return _clean(value) if value is not None else None


def _chunks(lines: Iterator[str], size: int = 1000) -> Iterator[str]:
    # Starlette hands each item of a sync iterator to a worker thread: one item per line
    # would cost a thread hop per suppression.
    while chunk := "".join(itertools.islice(lines, size)):
        yield chunk


def _csv_header(*, scoped: bool = False) -> str:
    names = ["address", "reason", "source", "first_seen", "last_seen", "detail"]
    # A tenant's export says which entries are its own (the tenant) or account-wide ('').
    return _csv_row([*names, "tenant"] if scoped else names)


def _csv_line(e: Suppression, *, scoped: bool = False) -> str:
    cells = [
        _cell(e.address),
        e.reason,
        e.source,
        e.first_seen.isoformat(),
        e.last_seen.isoformat(),
        _cell(e.detail or ""),
    ]
    return _csv_row([*cells, e.tenant or ""] if scoped else cells)


def _csv_row(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()


def _cell(value: str) -> str:
    # A spreadsheet would run a cell starting with = + - @ as a formula (CSV injection).
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


def _back(path: str, **query: str) -> RedirectResponse:
    wanted = {k: v for k, v in query.items() if v}
    return RedirectResponse(f"{path}?{urlencode(wanted)}" if wanted else path, status_code=303)


def make_app(
    store: Store,
    settings: Settings | None = None,
    *,
    ses: Callable[[], SesClient] | None = None,
    token: str | None = None,
) -> Starlette:
    """The dashboard as an ASGI app; give ``token`` to require it on every page. With
    ``unsubscribe_url`` and ``unsubscribe_secret`` set, it also serves the public unsubscribe
    endpoint at ``/unsubscribe`` (:func:`courrier.web.unsubscribe.unsubscribe_app`)."""
    settings = settings or Settings()
    pages = Dashboard(store, settings, ses=ses, token=token)
    static = str(resources.files("courrier.web") / "static")
    routes = [
        Route("/", pages.overview),
        Route("/messages", pages.messages),
        Route("/messages/{id}", pages.message),
        Route("/suppressions", pages.suppressions),
        Route("/suppressions", pages.add, methods=["POST"]),
        Route("/suppressions.csv", pages.export),
        Route("/suppressions/remove", pages.confirm_remove),
        Route("/suppressions/remove", pages.remove, methods=["POST"]),
        Route("/account", pages.account),
        Route("/account/sync", pages.sync, methods=["POST"]),
        Route("/guard/reset", pages.reset_guard, methods=["POST"]),
        Route("/login", pages.login_page),
        Route("/login", pages.login, methods=["POST"]),
        Route("/metrics", pages.metrics_page),
        Mount("/static", StaticFiles(directory=static), name="static"),
    ]
    dashboard = Starlette(
        routes=routes,
        middleware=[Middleware(Defences, token=token)],
        exception_handlers={StoreError: pages.store_failed},
    )
    if not (settings.unsubscribe_url and settings.unsubscribe_secret):
        return dashboard
    # The unsubscribe links are public: outside the dashboard's token, host and CSRF checks.
    return Starlette(
        routes=[
            Mount("/unsubscribe", unsubscribe_app(store, settings)),
            Mount("/", dashboard),
        ]
    )
