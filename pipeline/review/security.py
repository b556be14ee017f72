"""The review server's guards: loopback binding, the access token, the Host check (against DNS rebinding),
CSRF tokens and Origin checks on writes, security headers, and static files confined to one folder."""
from __future__ import annotations

import hmac
import ipaddress
import secrets
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

from flask import Flask, abort, request, session

TOKEN_HEADER = "X-Review-Token"
TOKEN_COOKIE = "pm_review_token"
CSRF_HEADER = "X-CSRF-Token"
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


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


def install(app: Flask, *, token: Optional[str], loopback_only: bool) -> None:
    """Register the request guards and response headers on `app`."""
    app.secret_key = secrets.token_bytes(32)  # sessions (and CSRF tokens) last as long as the server process
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      SESSION_COOKIE_NAME="pm_review_session")

    @app.before_request
    def _guard():
        if loopback_only:
            hostname = urlsplit(f"//{request.host}").hostname or ""
            if not is_loopback(hostname):
                abort(400, description="unexpected Host header")
        if token:
            given = request.headers.get(TOKEN_HEADER) or request.args.get("token") or request.cookies.get(TOKEN_COOKIE)
            if not _same(given, token):
                abort(401, description="access token required")
        if request.method in WRITE_METHODS:
            origin = request.headers.get("Origin")
            if origin and origin != request.host_url.rstrip("/"):
                abort(403, description="cross-origin request refused")
            if request.headers.get("Sec-Fetch-Site") not in (None, "same-origin", "none"):
                abort(403, description="cross-site request refused")
            if not _same(request.headers.get(CSRF_HEADER), session.get("csrf", "")):
                abort(403, description="missing or wrong CSRF token")
            if not request.is_json:
                abort(415, description="JSON body expected")

    @app.after_request
    def _headers(resp):
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers.setdefault("Cache-Control", "no-store")
        if token and request.args.get("token") and _same(request.args.get("token"), token):
            resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
        return resp


def static_file(folder: Path, name: str) -> Path:
    """The file `name` inside `folder`, or 404: no `..`, no absolute paths, no symlinks out, files only."""
    if not name or "\\" in name or "\0" in name or name.startswith("/") or any(p in ("", ".", "..") for p in name.split("/")):
        abort(404)
    root = folder.resolve()
    path = (root / name).resolve()
    if root not in path.parents or not path.is_file():
        abort(404)
    return path
