"""Liveness and readiness: is the process up, and can it reach its database; and its metrics."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from flask import Response, current_app
from flask.views import MethodView

from ledger import metrics
from ledger.api.problems import ApiProblem
from ledger.api.requests import Blueprint
from ledger.domain.timefmt import parse_instant
from ledger.service import LedgerService
from projections.register import AgreementRegister

blp = Blueprint("health", __name__, description="Liveness and readiness probes, and metrics")
METRICS_EXAMPLE = 'ledger_http_requests_total{method="GET",route="/health",status="200"} 3.0\n'


@blp.route("/health")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200)
    def get(self) -> dict[str, Any]:
        """The process is up."""
        return {"status": "ok"}


@blp.route("/ready")
class Ready(MethodView):
    @blp.doc(security=[])
    @blp.response(200)
    def get(self) -> dict[str, Any]:
        """The database is reachable."""
        try:
            current_app.extensions["ledger.service"].is_ready()
        except Exception as error:
            raise ApiProblem(503, "not-ready", "The database is not reachable.") from error
        return {"status": "ready"}


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.doc(security=[])
    @blp.response(200, {"type": "string"}, content_type="text/plain",
                  description="Prometheus text format", example=METRICS_EXAMPLE)  # fmt: skip
    def get(self) -> Response:
        """Requests, events appended, replays, conflicts, projection lag and checkpoint age."""
        service: LedgerService = current_app.extensions["ledger.service"]
        register: AgreementRegister = current_app.extensions["ledger.register"]
        readings = metrics.Readings(register.lag(), _checkpoint_age(service))
        return Response(metrics.render(readings), content_type=metrics.CONTENT_TYPE)


def _checkpoint_age(service: LedgerService) -> float | None:
    """Seconds since the newest checkpoint; NaN before the first, None without a signing key."""
    if service.integrity.key is None:
        return None
    latest = service.integrity.log.latest_checkpoint()
    if latest is None:
        return math.nan
    issued = parse_instant(latest.body["issued_at"])
    return (datetime.now(UTC) - issued).total_seconds()
