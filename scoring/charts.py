"""Plotly figures of the model page, built on the server (plotly.js is served from our static files)."""

from __future__ import annotations

import plotly.graph_objects as go

from scoring.models import DriftReport, ScoringModel
from vectoros.plots import FigureData, figure_payload


def _html(fig: go.Figure) -> FigureData:
    fig.update_layout(margin={"l": 40, "r": 10, "t": 30, "b": 40}, height=300, template="plotly_white")
    return figure_payload(fig, {"displayModeBar": False})


def model_figures(versions: list[ScoringModel], active: ScoringModel | None, drift: DriftReport | None) -> dict:
    figures: dict[str, FigureData] = {}
    ordered = sorted(versions, key=lambda v: v.version)
    if ordered:
        fig = go.Figure()
        for key, label in (("brier", "Brier (lower is better)"), ("auc", "AUC")):
            fig.add_scatter(
                x=[f"v{v.version}" for v in ordered],
                y=[
                    (v.metrics.get("model") or v.metrics.get("baselines", {}).get("stage_rate") or {}).get(key)
                    for v in ordered
                ],
                mode="lines+markers",
                name=label,
            )
        fig.update_layout(title="Held-out metrics by version")
        figures["metrics"] = _html(fig)
    if active is not None and active.reliability:
        pts = active.reliability
        fig = go.Figure()
        fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect", line={"dash": "dot"})
        fig.add_scatter(
            x=[p["predicted"] for p in pts],
            y=[p["observed"] for p in pts],
            mode="lines+markers",
            name="held-out deals",
            text=[f"{p['n']} snapshots" for p in pts],
        )
        fig.update_layout(
            title="Reliability: predicted vs observed win rate", xaxis_title="predicted", yaxis_title="observed"
        )
        figures["reliability"] = _html(fig)
    if active is not None and active.importance:
        items = list(active.importance.items())[:15][::-1]
        # Versions trained before the fix stored an attribute as `owner is “”`: show it as the attribute's name.
        labels = [k.removesuffix(" is “”") for k, _ in items]
        fig = go.Figure(go.Bar(x=[v for _, v in items], y=labels, orientation="h"))
        fig.update_layout(title="Feature importance (mean |contribution|)", height=420)
        figures["importance"] = _html(fig)
    if drift is not None and drift.psi:
        items = sorted(drift.psi.items(), key=lambda kv: -kv[1])[:15][::-1]
        fig = go.Figure(go.Bar(x=[v for _, v in items], y=[k for k, _ in items], orientation="h"))
        fig.add_vline(x=0.25, line_dash="dot")
        fig.update_layout(title="Population stability (PSI) of inputs, open deals vs training", height=420)
        figures["drift"] = _html(fig)
    return figures
