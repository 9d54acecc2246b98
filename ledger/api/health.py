"""Liveness and readiness: is the process up, and can it reach its database."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from ledger.api.problems import ApiProblem
from ledger.api.requests import Blueprint

blp = Blueprint("health", __name__, description="Liveness and readiness probes")


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
