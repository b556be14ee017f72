"""`policyminer review OUT_DIR`: a local Flask app where analysts check and correct tagged passages.

Pages: `/` (the filtered, paged passage list), `/p/<doc_id>/<index>` (one passage in its document; the page's
script fetches `/api/passage/...` and renders with textContent), `/orphans` (corrections that found no place in
this run), `/agreement` (Cohen's kappa between reviewers and their disagreements) and `/who` (the reviewer's
name, asked once per browser and kept in a cookie). Reads come from the review index (index.py); writes go to
the `corrections` table of OUT_DIR/run.sqlite through JSON POSTs guarded by a CSRF token (see security.py)."""
from __future__ import annotations

import logging
import mimetypes
import socket
import sys
from pathlib import Path
from typing import Optional
from urllib.parse import quote

from flask import Flask, abort, jsonify, render_template, request, send_file, url_for

from pipeline.review import pages, writes
from pipeline.review.data import RunFolderError
from pipeline.review.index import IndexUnavailable
from pipeline.review.security import (RedactingRequestHandler, UnsafeBindError, check_bind, csrf_token, install,
                                      is_loopback, same_site_request, static_file)
from pipeline.review.web import REVIEWER_COOKIE, REVIEWER_NAME, ReviewState, current_reviewer, local_path

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"


def create_app(out_dir: Path, *, token: Optional[str] = None, reviewer: Optional[str] = None,
               loopback_only: bool = True, config: Optional[dict] = None) -> Flask:
    """The app over one run folder. `reviewer` is only the name the name form suggests: every browser says who
    it is, so that each reviewer's undo is their own."""
    state = ReviewState(Path(out_dir), config)
    app = Flask(__name__, static_folder=None, template_folder=str(HERE / "templates"))
    install(app, token=token, loopback_only=loopback_only, max_request_bytes=state.config["max_request_bytes"])
    app.config["REVIEW_STATE"] = state

    @app.before_request
    def _fresh():
        if request.endpoint != "static":
            state.index.ensure_fresh()

    @app.get("/static/<path:name>")
    def static(name: str):
        path = static_file(STATIC_DIR, name)
        return send_file(path, mimetype=mimetypes.guess_type(path.name)[0] or "application/octet-stream",
                         max_age=0)

    @app.get("/who")
    def who_page():
        nxt = request.args.get("next", "")
        return render_template("who.html", next=nxt if local_path(nxt) else url_for("index"), csrf=csrf_token(),
                               reviewer=current_reviewer(), suggested=current_reviewer() or reviewer or "")

    @app.post("/api/reviewer")
    def api_reviewer():
        name = str((request.get_json(silent=True) or {}).get("name", "")).strip()
        if not REVIEWER_NAME.match(name):
            abort(400, description="a name of 1 to 40 characters, without < > \" ' & ; , or \\")
        resp = jsonify({"reviewer": name})
        resp.set_cookie(REVIEWER_COOKIE, quote(name), max_age=365 * 86400, httponly=True, samesite="Lax")
        return resp

    @app.get("/api/session")
    def api_session():
        """A fresh CSRF token for a page opened before a server restart (cross-site pages cannot read it)."""
        if not same_site_request():
            abort(403, description="cross-site request refused")
        return jsonify({"csrf": csrf_token(), "reviewer": current_reviewer()})

    pages.register(app, state)
    writes.register(app, state)

    _error_handlers(app)
    return app


def _error_handlers(app: Flask) -> None:
    """Errors as JSON ({"error", "code"}) the pages' scripts show."""

    def error(exc):
        return jsonify({"error": getattr(exc, "description", str(exc))}), exc.code

    for status in (400, 401, 403, 404, 409, 413, 415):
        app.register_error_handler(status, error)

    @app.errorhandler(IndexUnavailable)
    def _unavailable(exc):
        return jsonify({"error": f"the run cannot be read right now: {exc}", "code": "unavailable"}), 503


def reachable_name() -> str:
    """This machine's name as others can reach it: the host name when it resolves off loopback, else the address
    of the interface that routes outwards (a UDP connect sends nothing), else the host name as it is."""
    name = socket.gethostname()
    try:
        if name and not is_loopback(socket.gethostbyname(name)):
            return name
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never routed to anyone
            address = probe.getsockname()[0]
            if not is_loopback(address):
                return address
    except OSError:
        pass
    return name or "127.0.0.1"


def banner_url(host: str, port: int, token: Optional[str]) -> str:
    """The address to open: a name others can reach when bound to every interface (0.0.0.0 is not an address)."""
    if host in ("0.0.0.0", "::", ""):
        host = reachable_name()
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={quote(token)}" if token else "")


def serve(out_dir, *, host: str = "127.0.0.1", port: int = 8765, token: Optional[str] = None,
          reviewer: Optional[str] = None, config: Optional[dict] = None) -> int:
    """Run the review server until interrupted. Returns a process exit code."""
    from werkzeug.serving import make_server

    try:
        check_bind(host, token)
        app = create_app(Path(out_dir), token=token, reviewer=reviewer, loopback_only=is_loopback(host),
                         config=config)
    except UnsafeBindError as exc:  # how the command was called: a usage error
        print(f"error: review: {exc}", file=sys.stderr)
        return 2
    except (RunFolderError, IndexUnavailable) as exc:  # a missing or bad run folder, as for the other commands
        print(f"error: {exc}", file=sys.stderr)
        return 1
    server = make_server(host, port, app, threaded=True, request_handler=RedactingRequestHandler)
    built = app.config["REVIEW_STATE"].index.build_seconds
    log.warning("review: %s (Ctrl-C to stop)%s", banner_url(host, server.server_port, token),
                f"; index built in {built:.1f} s" if built else "")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
