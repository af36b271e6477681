"""gunicorn's Date header, made once a second.

gunicorn formats it for every answer with `email.utils.formatdate`, a visible share of a one-row
request's time. Its text changes once a second, so `cache_http_date` (the gunicorn configuration
calls it, for every worker class) has gunicorn take it from a per-second cache: the same text, made
once a second (what it saves: docs/benchmarks.md, "What each change bought").
"""

from __future__ import annotations

import time

from xorlab.serve.hosting import internals

_date = (-1, "")  # (second, its header text), replaced whole: a read never sees half of a pair
_format = internals.GUNICORN_HTTP_DATE  # gunicorn's own


def _http_date(timestamp=None):
    """gunicorn's util.http_date, with the current second's text kept."""
    global _date
    if timestamp is not None:
        return _format(timestamp)
    second = int(time.time())
    cached = _date
    if cached[0] != second:
        cached = _date = (second, _format(second))
    return cached[1]


def cache_http_date() -> None:
    """gunicorn's Response looks `util.http_date` up on every answer: it gets the cached one."""
    internals.replace_http_date(_http_date)
