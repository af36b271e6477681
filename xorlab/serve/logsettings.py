"""Triton's logging extension in xorlab's terms: its six settings read from, and mapped to, the one
log level xorlab has (XORLAB_LOG_LEVEL), one copy for HTTP (`/v2/logging`) and gRPC (`LogSettings`).

Triton switches INFO, WARNING and ERROR messages on and off one by one and has verbose levels 1, 2,
...; xorlab's log (Python's logging) has one threshold. So the settings are read from it: a level is
on when it is at or above the threshold, and `log_verbose_level` is 1 at DEBUG, else 0. A change is
applied as a threshold: a level turned on turns on the more severe ones, a level turned off turns
off the less severe ones (log_info off at DEBUG: WARNING), and two settings given together that
contradict that (log_info on, log_warning off) are refused, never half applied. ERROR off leaves
CRITICAL. What cannot be honoured is refused with the reason, as Triton refuses what it cannot do:
a log file (xorlab writes to stderr, which the deployment collects), a verbose level above 1, and
Triton's two text formats ("default", "ISO8601"): xorlab writes one format, JSON lines with ISO 8601
times, reported as "json".
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from xorlab.serve.errors import InvalidRequest

SETTINGS = ("log_file", "log_info", "log_warning", "log_error", "log_verbose_level", "log_format")
FORMAT = "json"
# The thresholds, least severe first, with the setting that turns each on.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SWITCHES = ("log_verbose_level", "log_info", "log_warning", "log_error")
# The loggers a worker writes through: the app's (and its request lines) and gunicorn's own.
LOGGERS = ("xorlab", "gunicorn.error")


def read(level: str) -> dict:
    """The six settings, as Triton answers them, for the log level `level`."""
    threshold = _threshold(level)
    on = [i >= threshold for i in range(len(LEVELS))]
    return {
        "log_file": "",
        "log_info": on[1],
        "log_warning": on[2],
        "log_error": on[3],
        "log_verbose_level": int(on[0]),
        "log_format": FORMAT,
    }


def level_after(level: str, changes: Mapping[str, object]) -> str:
    """The log level once `changes` (Triton's settings, any subset) are applied to `level`;
    InvalidRequest naming the setting that cannot be applied. A null value changes nothing."""
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise InvalidRequest(
            f"unknown log setting(s) {', '.join(repr(str(n)[:40]) for n in unknown[:5])}; "
            f"the logging extension's settings are {', '.join(SETTINGS)}"
        )
    given: dict[int, bool] = {}
    for name, value in changes.items():
        if value is None:
            continue
        if name == "log_file":
            if not isinstance(value, str):
                raise InvalidRequest("log_file must be a string")
            if value:
                raise InvalidRequest(
                    "log_file cannot be set: xorlab writes its log to stderr (one JSON object per "
                    'line), for the deployment to collect; only "" (the console) is accepted'
                )
        elif name == "log_format":
            if not isinstance(value, str):
                raise InvalidRequest("log_format must be a string")
            if value != FORMAT:
                raise InvalidRequest(
                    f"log_format {value[:40]!r} cannot be honoured: xorlab writes one format, JSON lines "
                    f"with ISO 8601 times ({FORMAT!r})"
                )
        elif name == "log_verbose_level":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidRequest("log_verbose_level must be a whole number >= 0")
            if value > 1:
                raise InvalidRequest(
                    f"log_verbose_level {value} cannot be honoured: xorlab has one verbose level, 1 (DEBUG)"
                )
            given[0] = value == 1
        else:
            if not isinstance(value, bool):
                raise InvalidRequest(f"{name} must be true or false")
            given[SWITCHES.index(name)] = value
    on = [i >= _threshold(level) for i in range(len(LEVELS))]
    for i, value in given.items():
        for j in range(i + 1, len(LEVELS)) if value else range(i):  # on: the more severe; off: the less
            if j in given and given[j] != value:
                raise InvalidRequest(
                    f"{SWITCHES[i]} {_word(value)} with {SWITCHES[j]} {_word(given[j])} cannot be honoured: xorlab's "
                    f"log has one threshold, so with a level on every more severe one is on"
                )
            on[j] = value
        on[i] = value
    return LEVELS[on.index(True)] if any(on) else "CRITICAL"


def apply(level: str) -> None:
    """Log at `level` in this process (a worker: its app, request lines and gunicorn's messages)."""
    for name in LOGGERS:
        logging.getLogger(name).setLevel(level)


def _threshold(level: str) -> int:
    """The index in LEVELS of the least severe level logged at `level` (len(LEVELS): none of them)."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def _word(value: bool) -> str:
    return "on" if value else "off"
