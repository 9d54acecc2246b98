"""The pages: login, collaborations, overview at a moment, timeline, cause and effect, charts,
diff and the agreement register. Each page reads what its API route reads, for a principal
that passed the same `authorize` (ledger/api/access.py)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID

from flask import (
    Blueprint,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from jinja2.bccache import Bucket, BytecodeCache
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from ledger.api.access import authorize, present_history, present_state
from ledger.api.collaborations import limit_of, service
from ledger.api.problems import STATUS, ApiProblem, validation_errors
from ledger.api.register import (
    STATUSES,
    RegisterQuerySchema,
    as_csv,
    register,
    register_query,
)
from ledger.api.requests import principal
from ledger.domain import errors
from ledger.domain import vocabulary as v
from ledger.domain.timefmt import format_instant
from ledger.tokens import TokenStore
from ledger.ui import charts, queries
from ledger.ui.forms import day_of, end_of_day, instant_arg, moment_arg, page_arg
from ledger.ui.i18n import (
    HIDDEN_FIELDS,
    LANG_COOKIE,
    day_label,
    field_label,
    field_value,
    language,
    moment_label,
    show_value,
    text,
    word,
)
from ledger.ui.session import (
    close_session,
    csrf_is_valid,
    csrf_token,
    open_session,
    remember_csrf,
    safe_next,
)
from projections import history
from projections.register import RegisterQuery
from projections.summaries import LANGUAGES
from projections.timeline import Moment, diff

log = logging.getLogger("ledger.ui")

blp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates",
                static_folder="static")  # fmt: skip

PAGE_SIZE = 50
TABLE_ROWS = 200  # rows per chart's table; the timeline has the rest
DIFF_DEFAULT_SPAN = timedelta(days=90)  # the diff page opens on the last three months
CSV_PAGE = 1000


class CompiledTemplates(BytecodeCache):
    """Compiled templates kept in memory for every app this process builds: compiling them
    takes hundreds of milliseconds, loading them again a few."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


COMPILED = CompiledTemplates()


@blp.record_once
def compile_templates(state: BlueprintSetupState) -> None:
    """Compile the pages' templates when a worker builds the app, not for its first reader."""
    state.app.jinja_env.bytecode_cache = COMPILED
    if blp.jinja_loader is not None:
        for name in blp.jinja_loader.list_templates():
            state.app.jinja_env.get_template(name)


# Plumbing shared by every page


def may(endpoint: str, collaboration_id: str | None = None) -> bool:
    """Whether this principal may open that page (or API route), by the one policy."""
    if "principal" not in g:
        return False
    args = {"collaboration_id": collaboration_id} if collaboration_id else {}
    try:
        authorize(principal(), endpoint, "GET", args)
    except (ApiProblem, errors.LedgerError):
        return False
    return True


def switch_url(lang: str) -> str:
    """This page in another language."""
    values: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(flat=False)}
    values["lang"] = lang
    return url_for(request.endpoint or "ui.index", **values)


@blp.context_processor
def page_context() -> dict[str, Any]:
    lang = language()
    return {
        "lang": lang,
        "t": partial(text, lang),
        "word": partial(word, lang),
        "day": partial(day_label, lang),
        "moment": partial(moment_label, lang),
        "show": partial(show_value, lang),
        "field": partial(field_label, lang),
        "value_of": partial(field_value, lang),
        "hidden_fields": HIDDEN_FIELDS,
        "now": format_instant(datetime.now(UTC)),
        "who": g.get("principal"),
        "may": may,
        "csrf_token": csrf_token,
        "switch_url": switch_url,
    }


@blp.after_request
def finish_page(response: BaseResponse) -> BaseResponse:
    remember_csrf(response)
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get(LANG_COOKIE) != chosen:
        response.set_cookie(LANG_COOKIE, str(chosen), max_age=365 * 24 * 3600, path="/ui",
                            samesite="Lax", httponly=True, secure=request.is_secure)  # fmt: skip
    if "started" in g:
        response.headers["Server-Timing"] = (
            f"app;dur={(time.perf_counter() - g.started) * 1000:.1f}"
        )
    return response


def _collaboration(collaboration_id: str) -> dict[str, str]:
    """The collaboration a page is about (404 when unknown): its canonical id and name."""
    try:
        canonical = str(UUID(collaboration_id))
    except ValueError:
        raise queries.not_found(collaboration_id) from None
    return {"id": canonical, "name": queries.collaboration_name(service(), canonical)}


# Logging in and out


@blp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    if request.method == "GET":
        return make_response(render_template("login.html", next=request.args.get("next", "")))
    target = request.form.get("next", "")
    if not csrf_is_valid():
        return _login_failed("login_expired", target, 403)
    tokens: TokenStore = current_app.extensions["ledger.tokens"]
    token = request.form.get("token", "").strip()
    if not token or tokens.authenticate(token) is None:
        return _login_failed("login_failed", target, 401)
    response = redirect(safe_next(target), 303)
    open_session(response, token)
    return response


def _login_failed(reason: str, target: str, status: int) -> BaseResponse:
    html = render_template("login.html", next=target, error=reason)
    return make_response(html, status)


@blp.post("/logout")
def logout() -> BaseResponse:
    response = redirect(url_for("ui.login"), 303)
    if csrf_is_valid():
        close_session(response)
    return response


# Pages


@blp.get("/")
def index() -> BaseResponse:
    found = service().collaborations(0, service().settings.page_limit_max, principal().scope())
    return make_response(render_template("index.html", collaborations=found))


@blp.get("/c/<collaboration_id>/")
def overview(collaboration_id: str) -> BaseResponse:
    collaboration = _collaboration(collaboration_id)
    cid = collaboration["id"]
    ledger = service()
    now = datetime.now(UTC)
    at, known_at = instant_arg("at"), instant_arg("known_at")
    view = ledger.state(cid, known_at=known_at, at=at or now, now=now)
    span = queries.span(ledger, cid)
    last = max(span.last, now.date())
    chosen = (at or now).date()
    return make_response(render_template(
        "overview.html", collaboration=collaboration, state=present_state(principal(), view.state),
        basis=view.basis, first_day=span.first.isoformat(), last_day=last.isoformat(),
        at_day=chosen.isoformat(), slider_max=(last - span.first).days,
        slider_value=min(max((chosen - span.first).days, 0), (last - span.first).days),
        known_days=queries.known_days(ledger, cid), known_day=day_of(known_at),
        effects=queries.effect_counts(ledger, cid),
    ))  # fmt: skip


@blp.get("/c/<collaboration_id>/timeline")
def timeline(collaboration_id: str) -> BaseResponse:
    collaboration = _collaboration(collaboration_id)
    cid = collaboration["id"]
    ledger = service()
    kinds = [kind for kind in request.args.getlist("kind") if kind in queries.KINDS]
    known_at = instant_arg("known_at")
    versions = queries.event_versions(ledger, cid, kinds, known_at)
    pages = max(1, -(-len(versions) // PAGE_SIZE))
    number = min(page_arg(), pages)
    shown = versions[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
    entries = queries.timeline_entries(ledger, cid, shown, language())
    return make_response(render_template(
        "timeline.html", collaboration=collaboration, entries=entries, kinds=kinds,
        all_kinds=list(queries.KINDS), total=len(versions), page=number, pages=pages,
        first=(number - 1) * PAGE_SIZE + 1, last=(number - 1) * PAGE_SIZE + len(shown),
        known_day=day_of(known_at), known_days=queries.known_days(ledger, cid),
        effects=queries.effect_counts(ledger, cid), page_size=PAGE_SIZE,
        names=history.latest_state(ledger, cid),
    ))  # fmt: skip


@blp.get("/c/<collaboration_id>/<any(decisions, reflections):section>/<item_id>")
def cause(collaboration_id: str, section: str, item_id: str) -> BaseResponse:
    """A decision or reflection, what led to it, and every change it caused."""
    collaboration = _collaboration(collaboration_id)
    cid = collaboration["id"]
    ledger = service()
    kind = section[:-1]
    found = history.cause_and_effect(ledger, cid, kind, item_id, language())
    item = found[kind]
    own = queries.timeline_entries(ledger, cid, [item["version"]], language())
    effects = queries.timeline_entries(ledger, cid, [e["version"] for e in found["effects"]],
                                       language())  # fmt: skip
    return make_response(render_template(
        "cause.html", collaboration=collaboration, kind=kind, item=item, own=own[0],
        effects=effects, effect_counts=queries.effect_counts(ledger, cid), page_size=PAGE_SIZE,
        names=history.latest_state(ledger, cid),
    ))  # fmt: skip


@blp.get("/c/<collaboration_id>/charts", endpoint="charts")
def charts_page(collaboration_id: str) -> BaseResponse:
    collaboration = _collaboration(collaboration_id)
    cid = collaboration["id"]
    ledger = service()
    lang, today = language(), datetime.now(UTC).date()
    lives = _lives(cid, lang)
    state, tenures, agreements = lives["state"], lives["tenures"], lives["agreements"]
    roles, partners = _sorted(state["roles"], "role_id"), _sorted(state["partners"], "partner_id")
    span = queries.span(ledger, cid)
    due = [charts.day(a.get(f)) for a in agreements for f in ("review_on", "valid_until")]
    axis = charts.axis_for([span.first, span.last, *due], today)
    labels = {key: text(lang, key) for key in ("amended", "corrected", "reviewed", "review_date")}
    labels |= {a["formality"]: word(lang, "formality", a["formality"]) for a in agreements}
    capacities = {p["partner_id"]: ", ".join(word(lang, "capacity", c) for c in p["capacities"])
                  for p in partners}  # fmt: skip
    return make_response(render_template(
        "charts.html", collaboration=collaboration, roles=roles, tenures=tenures,
        partners=partners, agreements=agreements, lives=lives["lives"], phases=state["phases"],
        role_chart=charts.tenure_chart(axis, roles, tenures, lang, today),
        partner_chart=charts.partner_chart(axis, partners, state["phases"], capacities, lang, today),
        agreement_chart=charts.agreement_chart(axis, agreements, lives["lives"], labels, lang, today),
        show_partners=may("collaborations.Collaboration", cid), width=charts.WIDTH,
        label_width=charts.LABEL_WIDTH, bar_height=charts.BAR_HEIGHT, table_rows=TABLE_ROWS,
    ))  # fmt: skip


def _sorted(items: dict[str, dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """A section of the state in the order its items came about."""
    return sorted(items.values(), key=lambda item: (item["since"], item[key]))


def _lives(cid: str, lang: str) -> dict[str, Any]:
    """Everything recorded so far, with each role's tenures and each agreement's life, as
    the principal may see them (the read models of /roles/…/history and /agreements/…/history)."""
    ledger, who = service(), principal()
    state = present_state(who, ledger.state(cid, version=ledger.stream_version(cid)).state)
    agreements = _sorted(state["agreements"], "agreement_id")
    return {
        "state": state,
        "tenures": {role_id: present_history(who, history.role_history(ledger, cid, role_id, lang))
                    for role_id in state["roles"]},
        "agreements": agreements,
        "lives": {a["agreement_id"]: present_history(who, history.item_life(
                      ledger, cid, "agreement", a["agreement_id"], lang))["life"]
                  for a in agreements},
    }  # fmt: skip


@blp.get("/c/<collaboration_id>/diff", endpoint="diff")
def diff_page(collaboration_id: str) -> BaseResponse:
    collaboration = _collaboration(collaboration_id)
    cid = collaboration["id"]
    ledger = service()
    now = datetime.now(UTC)
    span = queries.span(ledger, cid)
    default_from = max(span.first, (now - DIFF_DEFAULT_SPAN).date())
    start = moment_arg("from") or Moment(at=end_of_day(default_from))
    end = moment_arg("to") or Moment(at=now)
    known_at = instant_arg("known_at")
    found = diff(ledger, cid, start, end, known_at)
    names = history.latest_state(ledger, cid)
    return make_response(render_template(
        "diff.html", collaboration=collaboration, found=found, names=names,
        from_day=day_of(start.at), to_day=day_of(end.at), known_day=day_of(known_at),
        known_days=queries.known_days(ledger, cid), first_day=span.first.isoformat(),
        sections=_by_section(found["changes"]),
    ))  # fmt: skip


def _by_section(changes: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for change in changes:
        grouped.setdefault(change["section"], []).append(change)
    return list(grouped.items())


# The agreement register


def _register_query(limit: int | None = None) -> RegisterQuery:
    """The register's filters from the form, checked by the API's own schema."""
    raw: dict[str, Any] = {k: v.strip() for k, v in request.args.items()
                           if v.strip() and k not in ("lang", "collaboration")}  # fmt: skip
    for name in ("at", "known_at"):
        if name in raw:
            moment = instant_arg(name)
            raw[name] = format_instant(moment) if moment else None
    chosen = [c for c in request.args.getlist("collaboration") if c.strip()]
    if chosen:
        raw["collaboration"] = chosen
    try:
        query = RegisterQuerySchema().load(raw)
    except ValidationError as error:
        entries = validation_errors({"query": error.messages})
        detail = "; ".join(f"{e['field']}: {e['detail']}" for e in entries)
        raise ApiProblem(400, "validation-failed", f"Fix these fields: {detail}") from None
    return register_query(query, limit or limit_of(query))


@blp.get("/register", endpoint="register")
def register_page() -> BaseResponse:
    q = _register_query()
    items = register().query(q)
    last = items[-1] if len(items) == q.limit else None
    next_cursor = f"{last['collaboration_id']}/{last['agreement_id']}" if last else None
    summary = register().summary(q)
    visible = service().collaborations(0, service().settings.page_limit_max, principal().scope())
    args: dict[str, Any] = request.args.to_dict(flat=False)
    everything = {k: values for k, values in args.items() if k not in ("cursor", "limit")}
    return make_response(render_template(
        "register.html", items=items, q=q, summary=summary, collaborations=visible,
        names={c.collaboration_id: c.name for c in visible}, args=request.args,
        at_day=q.at[:10], known_day=q.known_at[:10], statuses=list(STATUSES),
        capacities=[c.value for c in v.Capacity], formalities=[f.value for f in v.Formality],
        next_url=url_for("ui.register", **{**args, "cursor": next_cursor}) if next_cursor else None,
        csv_url=url_for("ui.register_csv", **everything),
    ))  # fmt: skip


@blp.get("/register.csv")
def register_csv() -> BaseResponse:
    """Every agreement the filters select (all pages), as the API's CSV."""
    q = _register_query(CSV_PAGE)
    items: list[dict[str, Any]] = []
    while True:
        page = register().query(q)
        items.extend(page)
        if len(page) < q.limit:
            return as_csv(items)
        q = replace(q, cursor=(page[-1]["collaboration_id"], page[-1]["agreement_id"]))


# Errors as pages


def _status_of(error: errors.LedgerError) -> int:
    return next((STATUS[cls] for cls in type(error).__mro__ if cls in STATUS), 400)


def _error_page(status: int, detail: str) -> BaseResponse:
    return make_response(render_template("error.html", status=status, detail=detail), status)


@blp.errorhandler(ApiProblem)
def problem_page(error: ApiProblem) -> BaseResponse:
    if error.status == 401 and request.method in ("GET", "HEAD"):
        return redirect(url_for("ui.login", next=request.full_path.rstrip("?")), 303)
    response = _error_page(error.status, error.detail)
    response.headers.update(error.headers)
    return response


@blp.errorhandler(errors.LedgerError)
def ledger_error_page(error: errors.LedgerError) -> BaseResponse:
    return _error_page(_status_of(error), error.detail)


@blp.errorhandler(HTTPException)
def http_error_page(error: HTTPException) -> BaseResponse:
    return _error_page(error.code or 500, error.description or "")


@blp.errorhandler(Exception)
def unexpected_page(error: Exception) -> BaseResponse:
    log.exception("unhandled error")
    return _error_page(500, "Something went wrong on our side. Retry, and report the request "
                       "id if it persists.")  # fmt: skip
