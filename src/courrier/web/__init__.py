"""``courrier dashboard``: a small web dashboard over the store (``courrier[dashboard]``)."""

from courrier.web.app import make_app
from courrier.web.security import check_binding

__all__ = ["check_binding", "make_app"]
