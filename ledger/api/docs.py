"""Browsable API docs: flask-smorest's Swagger UI page, with Swagger UI served locally (no CDN)."""

from __future__ import annotations

from flask import Flask, Response, send_from_directory
from swagger_ui_bundle import swagger_ui_path

DOCS_CONFIG = {
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/docs/static/",
}


def install(app: Flask) -> None:
    directory = str(swagger_ui_path)

    @app.get("/docs/static/<path:filename>", endpoint="docs_static")
    def docs_static(filename: str) -> Response:
        return send_from_directory(directory, filename, max_age=3600)
