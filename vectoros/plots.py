"""Plotly figures as data for the page: `{{ figure|json_script }}` in the template, drawn by static/vectoros/charts.js.

No inline script (the Content-Security-Policy allows none), and every string in a trace's data is HTML-escaped:
Plotly renders a subset of HTML in labels (`<a href>`, `<b>`, `<br>`), so a stage or deal named
`<a href=//evil>x</a>` must reach it as text. Titles and annotations are ours and keep their markup.
"""

from __future__ import annotations

import html
import json
from typing import Any

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
