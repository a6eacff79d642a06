"""A synchronizer token against cross-site request forgery, beside the same-origin check.

``SameOrigin`` (``safeguard.kernel.web``) refuses a state-changing request a browser says came
from another site; a browser that says nothing (an old one, a proxy that strips the headers) is
still stopped here: every form carries a token of the session's (``csrf_token``, in a hidden
field), and every POST whose token is missing or not the session's is refused with 403 before
the route runs. The sign-in form has one too (the session exists before sign-in), so another
site cannot sign a browser in to an account of its choosing; a new token is made at sign-in.

Written here rather than taken from a library: the maintained ones for Starlette send the token
in a header set by JavaScript or a double-submit cookie, and these pages post plain HTML forms.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request, status

FIELD = "csrf_token"
_KEY = "csrf"


def csrf_token(request: Request) -> str:
    """The session's token, made now if it has none (templates call this for each form)."""
    token = request.session.get(_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[_KEY] = token
    return token


def renew(request: Request) -> None:
    """A new token (after sign-in: a token seen before it is worth nothing after)."""
    request.session[_KEY] = secrets.token_urlsafe(32)


async def require_csrf(request: Request) -> None:
    """Refuse the request unless its form carries the session's token."""
    expected = request.session.get(_KEY)
    sent = (await request.form()).get(FIELD)
    if not (
        isinstance(expected, str)
        and isinstance(sent, str)
        and hmac.compare_digest(sent.encode(), expected.encode())
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "this form has expired or was not sent from the dashboard: reload the page and "
            "try again",
        )
