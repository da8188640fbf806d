"""The dashboard's six Plotly figures, built on the server. Every figure has a title, axis labels and
text on the marks, so it reads without colour."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import plotly.graph_objects as go

PALETTE = {"base": "#2f5d8a", "scenario": "#d98b2b", "band": "rgba(47,93,138,0.18)", "actual": "#3a7d44"}
BAND_COLOURS = {"high": "#3a7d44", "medium": "#2f5d8a", "low": "#d98b2b", "unlikely": "#9a9a9a"}


def _layout(fig: go.Figure, title: str, height: int = 320) -> str:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        paper_bgcolor="white",
        plot_bgcolor="white",
        font={"family": "system-ui, sans-serif", "size": 12},
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_xaxes(showgrid=False, linecolor="#888")
    fig.update_yaxes(gridcolor="#eee", linecolor="#888")
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def money(value: float) -> str:
    if abs(value) >= 1e6:
        return f"${value / 1e6:,.2f}M"
    if abs(value) >= 1e3:
        return f"${value / 1e3:,.0f}k"
    return f"${value:,.0f}"


def scenario_bars(scenarios: Sequence[tuple[str, dict[str, float]]], target: float | None) -> str:
    fig = go.Figure()
    for (name, pct), colour, pattern in zip(scenarios, (PALETTE["base"], PALETTE["scenario"]), ("", "/"), strict=False):
        values = [pct["p10"], pct["p50"], pct["p90"]]
        fig.add_bar(
            name=name,
            x=["Worst (P10)", "Likely (P50)", "Best (P90)"],
            y=values,
            marker={"color": colour, "pattern": {"shape": pattern}},
            text=[money(v) for v in values],
            textposition="outside",
        )
    if target:
        fig.add_hline(y=target, line_dash="dash", annotation_text=f"Target {money(target)}")
    fig.update_yaxes(title_text="Closed-won revenue")
    return _layout(fig, "Scenarios: worst, likely, best")


def distribution(histogram: dict[str, list[float]], pct: dict[str, float], target: float | None) -> str:
    edges, counts = histogram.get("edges", []), histogram.get("counts", [])
    centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
    total = sum(counts) or 1
    fig = go.Figure(
        go.Scatter(
            x=centres,
            y=[c / total * 100 for c in counts],
            fill="tozeroy",
            mode="lines",
            line={"color": PALETTE["base"]},
            name="Share of simulations",
        )
    )
    for key, dash in (("p10", "dot"), ("p50", "solid"), ("p90", "dot")):
        fig.add_vline(x=pct[key], line_dash=dash, annotation_text=f"{key.upper()} {money(pct[key])}")
    if target:
        fig.add_vline(x=target, line_dash="dash", line_color="#b33", annotation_text=f"Target {money(target)}")
    fig.update_xaxes(title_text="Closed-won revenue in the period")
    fig.update_yaxes(title_text="% of simulations")
    return _layout(fig, "Monte Carlo distribution")


def revenue_trend(
    months: Sequence[str], actuals: Sequence[float], projection: Sequence[tuple[str, float, float, float]]
) -> str:
    fig = go.Figure()
    fig.add_bar(
        x=list(months),
        y=list(actuals),
        name="Actual (closed won)",
        marker_color=PALETTE["actual"],
        text=[money(v) for v in actuals],
        textposition="outside",
    )
    if projection:
        xs = [p[0] for p in projection]
        fig.add_scatter(
            x=xs + xs[::-1],
            y=[p[3] for p in projection] + [p[1] for p in projection][::-1],
            fill="toself",
            fillcolor=PALETTE["band"],
            line={"width": 0},
            name="P10–P90 band",
        )
        fig.add_scatter(
            x=xs,
            y=[p[2] for p in projection],
            mode="lines+markers+text",
            line={"dash": "dash", "color": PALETTE["base"]},
            marker={"symbol": "diamond"},
            text=[money(p[2]) for p in projection],
            textposition="top center",
            name="Projection (P50)",
        )
    fig.update_yaxes(title_text="Revenue per month")
    fig.update_xaxes(title_text="Month")
    return _layout(fig, "Revenue trend and projection")


def pipeline_by_stage(stages: Sequence[str], values: Sequence[float]) -> str:
    fig = go.Figure(
        go.Pie(
            labels=list(stages),
            values=list(values),
            hole=0.5,
            textinfo="label+percent",
            texttemplate="%{label}<br>%{percent}",
            sort=False,
        )
    )
    return _layout(fig, "Open pipeline by stage")


def pipeline_health(bands: Sequence[str], values: Sequence[float], counts: Sequence[int]) -> str:
    fig = go.Figure(
        go.Bar(
            y=[b.capitalize() for b in bands],
            x=list(values),
            orientation="h",
            marker_color=[BAND_COLOURS.get(b, "#888") for b in bands],
            text=[f"{money(v)} · {c} deals" for v, c in zip(values, counts, strict=True)],
            textposition="auto",
        )
    )
    fig.update_xaxes(title_text="Open value")
    fig.update_yaxes(title_text="Chance to win this period", autorange="reversed")
    return _layout(fig, "Pipeline health by confidence")


def funnel(stages: Sequence[str], reached: Sequence[int], median_days: Sequence[float | None]) -> str:
    labels = [
        f"{name} · {'' if days is None else f'{days:.0f} d median'}".rstrip(" ·")
        for name, days in zip(stages, median_days, strict=True)
    ]
    fig = go.Figure(go.Funnel(y=labels, x=list(reached), textinfo="value+percent initial"))
    fig.update_yaxes(title_text="Stage (median days in stage)")
    return _layout(fig, "Sales funnel: conversion and velocity")
