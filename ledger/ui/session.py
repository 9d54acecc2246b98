"""A browser session opened with a token: the token rides in an HttpOnly, SameSite=Strict cookie
sent only to /ui (never in a URL or a log), and the login and logout forms carry a CSRF token
checked against a cookie of their own (double submit)."""

from __future__ import annotations

import hmac
import secrets

from flask import g, request, url_for
from werkzeug.wrappers import Response

SESSION_COOKIE = "ledger_session"  # read by ledger/api/requests.py `authenticate`
CSRF_COOKIE = "ledger_csrf"
COOKIE_PATH = "/ui"


def _cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path=COOKIE_PATH, httponly=True, samesite="Strict",
                        secure=request.is_secure)  # fmt: skip


def csrf_token() -> str:
    """The CSRF token for this browser, issued on first use and kept in a cookie."""
    if "csrf_token" not in g:
        existing = request.cookies.get(CSRF_COOKIE, "")
        g.csrf_token = existing if len(existing) == 43 else secrets.token_urlsafe(32)
        g.csrf_is_new = g.csrf_token != existing
    token: str = g.csrf_token
    return token


def csrf_is_valid() -> bool:
    sent = request.form.get("csrf_token", "")
    kept = request.cookies.get(CSRF_COOKIE, "")
    return bool(sent and kept) and hmac.compare_digest(sent, kept)


def remember_csrf(response: Response) -> Response:
    if g.get("csrf_is_new"):
        _cookie(response, CSRF_COOKIE, g.csrf_token)
    return response


def open_session(response: Response, token: str) -> None:
    _cookie(response, SESSION_COOKIE, token)


def close_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH, httponly=True, samesite="Strict",
                           secure=request.is_secure)  # fmt: skip


def safe_next(raw: str | None) -> str:
    """Where to go after logging in: a page of ours, never another site."""
    if raw and raw.startswith("/ui/") and "//" not in raw and "\\" not in raw:
        return raw
    return url_for("ui.index")
