"""The review server's guards: loopback binding, the access token, the Host check (against DNS rebinding),
a request-size limit, CSRF tokens and Origin checks on writes, security headers, static files confined to one
folder, and an access log that never shows the token.

The token may come once in the URL (`?token=…`, the link the banner prints): the server then sets it as a
cookie and redirects to the same address without it, so it stays out of the history and of later log lines."""
from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from pathlib import Path
from typing import NoReturn, Optional
from urllib.parse import urlencode, urlsplit

from flask import Flask, abort, jsonify, redirect, request, session
from werkzeug.exceptions import HTTPException
from werkzeug.serving import WSGIRequestHandler

TOKEN_HEADER = "X-Review-Token"
TOKEN_COOKIE = "pm_review_token"
CSRF_HEADER = "X-CSRF-Token"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s#]*")


class UnsafeBindError(ValueError):
    """Refusing to serve: a non-loopback address without an access token."""


def is_loopback(host: str) -> bool:
    host = (host or "").strip().strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: Optional[str]) -> None:
    if not is_loopback(host) and not token:
        raise UnsafeBindError(f"refusing to bind {host!r} without --token: anyone on the network could read and "
                              f"change the review; bind 127.0.0.1 or pass --token")


def _same(a: Optional[str], b: str) -> bool:
    return bool(a) and hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def refuse(status: int, message: str, code: str) -> NoReturn:
    """Stop the request with a JSON error the page's script can act on (`code` says what happened)."""
    resp = jsonify({"error": message, "code": code})
    resp.status_code = status
    raise HTTPException(response=resp)


def same_site_request() -> bool:
    """The browser says the request comes from this site (or from the address bar), not from another site."""
    return request.headers.get("Sec-Fetch-Site") in (None, "same-origin", "none")


def install(app: Flask, *, token: Optional[str], loopback_only: bool, max_request_bytes: int) -> None:
    """Register the request guards and response headers on `app`."""
    app.secret_key = secrets.token_bytes(32)  # sessions (and CSRF tokens) last as long as the server process
    # Lax, not Strict: a link from the report (another site, a file) must open the app with its cookies.
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="pm_review_session", MAX_CONTENT_LENGTH=max_request_bytes)

    @app.before_request
    def _guard():
        if loopback_only:
            hostname = urlsplit(f"//{request.host}").hostname or ""
            if not is_loopback(hostname):
                abort(400, description="unexpected Host header")
        if request.content_length is not None and request.content_length > max_request_bytes:
            refuse(413, f"request body larger than {max_request_bytes} bytes", "too_large")
        if token:
            return _check_token(token)
        return None

    @app.before_request
    def _guard_writes():
        if request.method not in WRITE_METHODS:
            return
        origin = request.headers.get("Origin")
        if origin and origin != request.host_url.rstrip("/"):
            abort(403, description="cross-origin request refused")
        if not same_site_request():
            abort(403, description="cross-site request refused")
        if not _same(request.headers.get(CSRF_HEADER), session.get("csrf", "")):
            refuse(403, "missing or wrong CSRF token (was the server restarted? reload the page)", "csrf")
        if not request.is_json:
            abort(415, description="JSON body expected")

    @app.after_request
    def _headers(resp):
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp


def _check_token(token: str):
    in_url = request.args.get("token")
    given = request.headers.get(TOKEN_HEADER) or in_url or request.cookies.get(TOKEN_COOKIE)
    if not _same(given, token):
        abort(401, description="access token required")
    if in_url is not None and request.method == "GET":
        # Trade the token in the URL for a cookie, and send the browser to the same address without it.
        rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
        resp = redirect(request.path + (f"?{urlencode(rest)}" if rest else ""), code=303)
        resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Lax")
        return resp
    return None


def redact(line: str) -> str:
    """A request line with the value of any `token=` parameter hidden."""
    return TOKEN_IN_URL.sub(r"\1***", line)


class RedactingRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, with `?token=…` hidden in every line it logs."""

    def log(self, type: str, message: str, *args) -> None:  # noqa: A002 (werkzeug's signature)
        text = message % args if args else message
        super().log(type, redact(text))  # no args: logging leaves the text as it is


def static_file(folder: Path, name: str) -> Path:
    """The file `name` inside `folder`, or 404: no `..`, no absolute paths, no symlinks out, files only."""
    if not name or "\\" in name or "\0" in name or name.startswith("/") or any(p in ("", ".", "..") for p in name.split("/")):
        abort(404)
    root = folder.resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    return path
