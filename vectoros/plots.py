"""Plotly figures as data for the page: `{{ figure|json_script }}` in the template, drawn by static/vectoros/charts.js.

No inline script (the Content-Security-Policy allows none), and every string in a trace's data is HTML-escaped:
Plotly renders a subset of HTML in labels (`<a href>`, `<b>`, `<br>`), so a stage or deal named
`<a href=//evil>x</a>` must reach it as text. Titles and annotations are ours and keep their markup.
"""

from __future__ import annotations

import functools
import html
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, ParamSpec

import plotly.graph_objects as go
import plotly.io

# Trace attributes that carry names or labels Plotly draws as (pseudo-)HTML.
FigureData = dict[str, Any]  # {"data": [...], "layout": {...}, "config": {...}}, as Plotly.newPlot takes them
_TEXT_ATTRIBUTES = ("x", "y", "labels", "text", "hovertext", "name", "ids", "parents", "legendgrouptitle")


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return html.escape(value, quote=False)
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    if isinstance(value, dict):
        return {key: _escaped(item) for key, item in value.items()}
    return value


def figure_payload(fig: go.Figure, config: dict[str, Any] | None = None) -> FigureData:
    """`{"data", "layout", "config"}` ready for json_script, with the traces' text escaped."""
    spec = json.loads(plotly.io.to_json(fig, validate=False))
    for trace in spec.get("data", []):
        for attribute in _TEXT_ATTRIBUTES:
            if attribute in trace and not isinstance(trace[attribute], dict):  # dicts here are typed arrays
                trace[attribute] = _escaped(trace[attribute])
    return {"data": spec.get("data", []), "layout": spec.get("layout", {}), "config": config or {}}


P = ParamSpec("P")
MEMO_SIZE = 256


def memoized_figure(build: Callable[P, FigureData]) -> Callable[P, FigureData]:
    """A figure builder that remembers its last MEMO_SIZE figures (per process, keyed by the arguments' repr).

    Figures are pure functions of their arguments, and plotly's validators make each one cost tens of
    milliseconds; a dashboard under load draws the same ones again and again. Callers get a copy."""
    built: OrderedDict[str, str] = OrderedDict()  # as JSON: loading it is cheaper than a deep copy
    lock = threading.Lock()

    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> FigureData:
        key = repr((args, sorted(kwargs.items())))
        with lock:
            found = built.get(key)
            if found is not None:
                built.move_to_end(key)
                return json.loads(found)  # type: ignore[no-any-return]
        figure = build(*args, **kwargs)
        with lock:
            built[key] = json.dumps(figure)
            while len(built) > MEMO_SIZE:
                built.popitem(last=False)
        return figure

    return wrapper
