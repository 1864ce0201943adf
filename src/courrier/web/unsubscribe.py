"""The public one-click unsubscribe endpoint as an ASGI app (see :mod:`courrier.unsubscribe`).

No dashboard token, no cookie, no CSRF field: the signed link is the only authority, and
mail providers POST it from their own servers (RFC 8058 section 3.2). Mount it where
``unsubscribe_url`` points, for example ``Mount("/unsubscribe", unsubscribe_app(store,
settings))``; ``courrier dashboard`` serves it at ``/unsubscribe``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from courrier.settings import Settings
from courrier.store import Store
from courrier.store.unsubscribes import Unsubscribed
from courrier.unsubscribe import PAGE_HEADERS, Answer, Endpoint, too_large

__all__ = ["unsubscribe_app"]


def _response(answer: Answer) -> Response:
    return HTMLResponse(answer.page(), status_code=answer.status, headers=PAGE_HEADERS)


def unsubscribe_app(
    store: Store,
    settings: Settings,
    *,
    on_unsubscribe: Callable[[Unsubscribed], None] | None = None,
) -> Starlette:
    """GET ``/{token}`` shows a page with a button; POST ``/{token}`` with
    ``List-Unsubscribe=One-Click`` unsubscribes at once. ``on_unsubscribe`` is called with
    each new unsubscribe."""
    endpoint = Endpoint(store, settings, on_unsubscribe=on_unsubscribe)

    async def show(request: Request) -> Response:
        return _response(endpoint.get(request.path_params["token"]))

    async def unsubscribe(request: Request) -> Response:
        if too_large(request.headers.get("content-length", "")):
            return HTMLResponse("request too large", status_code=413, headers=PAGE_HEADERS)
        try:
            form = await request.form(max_files=0, max_fields=10)
        except Exception:  # a body that is not a form: not a one-click request
            fields: dict[str, str] = {}
        else:
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return _response(endpoint.post(request.path_params["token"], fields))

    return Starlette(
        routes=[
            Route("/{token}", show, methods=["GET", "HEAD"]),
            Route("/{token}", unsubscribe, methods=["POST"]),
        ]
    )
