"""The application factory: settings, the model repository (loaded here, so in each gunicorn
worker after the fork), the error handlers and one blueprint per protocol."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from flask import Flask

from serve import report, v1, v2
from serve.config import Settings
from serve.errors import register_error_handlers
from serve.repository import load_repository
from serve.state import State

log = logging.getLogger("xorlab.serve")


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """`config`: a Settings, or overrides of its fields by name (e.g. {"models": "path"});
    anything not given comes from XORLAB_* environment variables, then the defaults."""
    settings = config if isinstance(config, Settings) else Settings.from_env(**dict(config or {}))
    _configure_logging(settings.log_level)

    app = Flask(__name__)
    app.config.update(
        DEBUG=False,
        PROPAGATE_EXCEPTIONS=False,  # errors go to our handler (JSON, no trace), never to the client
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
    )
    repository = load_repository(settings.models)
    app.extensions["xorlab"] = State(settings, repository)
    for model in repository.models.values():
        if model.ready:
            log.info("model %s version %s ready (solves XOR: %s)", model.name, model.version, model.solved)
        else:
            log.warning("model %s refused: %s", model.name, model.reason)
    if repository.error:
        log.warning("model repository refused: %s", repository.error)

    register_error_handlers(app)
    app.register_blueprint(v1.bp)
    app.register_blueprint(v2.bp)
    app.register_blueprint(report.bp)
    return app


def _configure_logging(level: str) -> None:
    logger = logging.getLogger("xorlab")
    logger.setLevel(level.upper())
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
