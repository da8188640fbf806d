"""The dashboard's six Plotly figures, built on the server and drawn from their JSON by static/vectoros/charts.js.
Every figure has a title, axis labels and text on the marks, so it reads without colour."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import plotly.graph_objects as go

from vectoros.plots import FigureData, figure_payload, memoized_figure

PALETTE = {"base": "#2f5d8a", "scenario": "#d98b2b", "band": "rgba(47,93,138,0.18)", "actual": "#3a7d44"}
BAND_COLOURS = {"high": "#3a7d44", "medium": "#2f5d8a", "low": "#d98b2b", "unlikely": "#9a9a9a"}


def _layout(fig: go.Figure, title: str, height: int = 340, *, legend_on_top: bool = False) -> FigureData:
    fig.update_layout(
        title={"text": title, "x": 0.01, "y": 0.97, "font": {"size": 15}},
        height=height,
        margin={"l": 60, "r": 20, "t": 80 if legend_on_top else 50, "b": 60},
        paper_bgcolor="white",
        plot_bgcolor="white",
        font={"family": "system-ui, sans-serif", "size": 12},
        autosize=True,
    )
    if not legend_on_top:
        fig.update_layout(legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(showgrid=False, linecolor="#888")
    fig.update_yaxes(gridcolor="#eee", linecolor="#888")
    return figure_payload(fig, {"displaylogo": False, "responsive": True})


SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "CAD": "CA$", "AUD": "A$", "CHF": "CHF ", "INR": "₹"}


def symbol(currency: str) -> str:
    """The prefix money is written with: "$" for USD, the ISO code and a space for a currency without one here."""
    return SYMBOLS.get(currency.upper(), f"{currency.upper()} ")


def money(value: float, currency: str = "USD") -> str:
    sign, value, prefix = "−" if value < 0 else "", abs(value), symbol(currency)
    if value >= 1e6:
        return f"{sign}{prefix}{value / 1e6:,.2f}M"
    if value >= 1e3:
        return f"{sign}{prefix}{value / 1e3:,.0f}k"
    return f"{sign}{prefix}{value:,.0f}"


@memoized_figure
def scenario_bars(
    scenarios: Sequence[tuple[str, dict[str, float]]], target: float | None, currency: str = "USD"
) -> FigureData:
    fig = go.Figure()
    for (name, pct), colour, pattern in zip(scenarios, (PALETTE["base"], PALETTE["scenario"]), ("", "/"), strict=False):
        values = [pct["p10"], pct["p50"], pct["p90"]]
        fig.add_bar(
            name=name,
            x=["Worst (P10)", "Likely (P50)", "Best (P90)"],
            y=values,
            marker={"color": colour, "pattern": {"shape": pattern}},
            text=[money(v, currency) for v in values],
            textposition="outside",
            cliponaxis=False,
        )
    if target:
        fig.add_hline(
            y=target,
            line_dash="dash",
            line_color="#b33",
            annotation_text=f"Target {money(target, currency)}",
            annotation_position="top left",
            annotation_font_color="#b33",
        )
    fig.update_yaxes(title_text=f"Closed-won revenue ({currency})", rangemode="nonnegative")
    return _layout(fig, "Scenarios: worst, likely, best")


@memoized_figure
def distribution(
    histogram: dict[str, list[float]], pct: dict[str, float], target: float | None, currency: str = "USD"
) -> FigureData:
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
    # P10, P50, P90 and the target are vertical lines named in the legend with their values: labels on the
    # plot piled onto each other and onto the curve whenever the values were close.
    marks = [(k.upper(), pct[k], "solid" if k == "p50" else "dot", "#333") for k in ("p10", "p50", "p90")]
    if target:
        marks.append(("Target", target, "dash", "#b33"))
    top = max((c / total * 100 for c in counts), default=1.0) or 1.0
    for name, x, dash, colour in marks:
        fig.add_scatter(
            x=[x, x],
            y=[0, top],
            mode="lines",
            line={"dash": dash, "color": colour, "width": 2 if name == "Target" else 1},
            name=f"{name} {money(x, currency)}",
            hovertemplate=f"{name}: %{{x:,.0f}}<extra></extra>",
        )
    high = max([edges[-1] if edges else 0.0, *(m[1] for m in marks)])
    # Revenue is never negative: the axis starts at zero even when every simulation lands on nothing.
    fig.update_xaxes(title_text=f"Closed-won revenue in the period ({currency})", range=[0, max(high * 1.05, 1.0)])
    fig.update_yaxes(title_text="% of simulations", rangemode="nonnegative")
    return _layout(fig, "Monte Carlo distribution")


@memoized_figure
def distributions_compared(
    quantiles: Sequence[tuple[str, Sequence[float]]], target: float | None, currency: str = "USD", bins: int = 40
) -> FigureData:
    """Several distributions (base and what-if) on one axis, each from its 101 percentiles."""
    import numpy as np

    usable = [(name, np.asarray(q, dtype=float)) for name, q in quantiles if len(q) == 101]
    lo = min((float(q[0]) for _, q in usable), default=0.0)
    hi = max((float(q[-1]) for _, q in usable), default=1.0)
    hi = hi if hi > lo else lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    centres = ((edges[:-1] + edges[1:]) / 2).tolist()
    levels = np.arange(101) / 100
    fig = go.Figure()
    for (name, q), colour in zip(usable, (PALETTE["base"], PALETTE["scenario"]), strict=False):
        # Each percent of simulations lies between neighbouring percentiles: re-binned on the shared edges.
        shares = np.diff(np.interp(edges, q, levels, left=0.0, right=1.0)) * 100
        fig.add_scatter(
            x=centres,
            y=shares.tolist(),
            mode="lines",
            fill="tozeroy",
            line={"color": colour, "dash": "solid" if name == "Base" else "dash"},
            name=f"{name}: P50 {money(float(q[50]), currency)}",
        )
    if target:
        fig.add_vline(x=target, line_dash="dash", line_color="#b33", line_width=2)
        fig.add_scatter(
            x=[target],
            y=[0],
            mode="markers",
            marker={"color": "#b33", "symbol": "line-ns-open", "size": 14},
            name=f"Target {money(target, currency)}",
        )
    fig.update_xaxes(title_text=f"Closed-won revenue in the period ({currency})", range=[0, max(hi * 1.05, 1.0)])
    fig.update_yaxes(title_text="% of simulations", rangemode="nonnegative")
    return _layout(fig, "Base and what-if distributions")


@memoized_figure
def revenue_trend(
    months: Sequence[str],
    actuals: Sequence[float],
    projection: Sequence[tuple[str, float, float, float]],
    currency: str = "USD",
) -> FigureData:
    fig = go.Figure()
    fig.add_bar(
        x=list(months),
        y=list(actuals),
        name="Actual (closed won)",
        marker_color=PALETTE["actual"],
        hovertemplate="%{x}: %{y:,.0f}<extra>Actual</extra>",
    )
    if projection:
        xs = [p[0] for p in projection]
        low, mid, high = [p[1] for p in projection], [p[2] for p in projection], [p[3] for p in projection]
        # The band: P10 then P90 filled between them, and whiskers on each month so one month shows it too.
        fig.add_scatter(x=xs, y=low, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip")
        fig.add_scatter(
            x=xs,
            y=high,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=PALETTE["band"],
            name="P10–P90 band",
            hoverinfo="skip",
        )
        fig.add_scatter(
            x=xs,
            y=mid,
            mode="lines+markers",
            line={"dash": "dash", "color": PALETTE["base"]},
            marker={"symbol": "diamond", "size": 9},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [h - m for h, m in zip(high, mid, strict=True)],
                "arrayminus": [m - lo for m, lo in zip(mid, low, strict=True)],
                "color": PALETTE["base"],
                "thickness": 1,
                "width": 6,
            },
            name="Projection (P50, whiskers P10–P90)",
            hovertemplate="%{x}: %{y:,.0f}<extra>P50</extra>",
        )
    fig.update_yaxes(title_text=f"Revenue per month ({currency})", rangemode="nonnegative", tickformat=",.0f")
    # Months are categories: a lone month on a date axis was drawn with ticks like "23:59:59.999".
    fig.update_xaxes(title_text="Month", tickangle=-45, type="category", categoryorder="category ascending")
    fig.update_layout(legend={"orientation": "h", "y": 1.12, "x": 0, "font": {"size": 11}})
    return _layout(fig, "Revenue trend and projection", legend_on_top=True)


@memoized_figure
def pipeline_by_stage(stages: Sequence[str], values: Sequence[float], currency: str = "USD") -> FigureData:
    total = sum(values) or 1.0
    fig = go.Figure(
        go.Pie(
            # The legend names each slice with its value and share, so nothing depends on colour.
            labels=[f"{s}: {money(v, currency)} ({v / total:.0%})" for s, v in zip(stages, values, strict=True)],
            values=list(values),
            hole=0.5,
            textinfo="percent",
            textposition="inside",
            insidetextorientation="horizontal",
            sort=False,
            marker={"line": {"color": "white", "width": 2}},
        )
    )
    fig.update_layout(
        legend={"orientation": "v", "x": 1.0, "y": 0.5, "font": {"size": 11}},
        uniformtext={"minsize": 10, "mode": "hide"},
        annotations=[{"text": f"Open<br>{money(total, currency)}", "showarrow": False, "font": {"size": 13}}],
    )
    return _layout(fig, "Open pipeline by stage", legend_on_top=True)


@memoized_figure
def pipeline_health(
    bands: Sequence[str], values: Sequence[float], counts: Sequence[int], currency: str = "USD"
) -> FigureData:
    fig = go.Figure(
        go.Bar(
            y=[b.capitalize() for b in bands],
            x=list(values),
            orientation="h",
            marker_color=[BAND_COLOURS.get(b, "#888") for b in bands],
            text=[f"{money(v, currency)} · {c} deals" for v, c in zip(values, counts, strict=True)],
            textposition="auto",
        )
    )
    fig.update_xaxes(title_text=f"Open value ({currency})", rangemode="nonnegative")
    fig.update_yaxes(title_text="Chance to win this period", autorange="reversed")
    return _layout(fig, "Pipeline health by confidence")


@memoized_figure
def funnel(stages: Sequence[str], reached: Sequence[int], median_days: Sequence[float | None]) -> FigureData:
    labels = [
        f"{name} · {'' if days is None else f'{days:.0f} d median'}".rstrip(" ·")
        for name, days in zip(stages, median_days, strict=True)
    ]
    fig = go.Figure(go.Funnel(y=labels, x=list(reached), textinfo="value+percent initial"))
    fig.update_yaxes(title_text="Stage (median days in stage)")
    return _layout(fig, "Sales funnel: deals that reached each stage")


@memoized_figure
def waterfall(
    start: tuple[str, float], flows: Sequence[tuple[str, float]], end: tuple[str, float], currency: str = "USD"
) -> FigureData:
    """What changed: the start, each flow as a rise or fall, the end; every bar labelled with its amount."""
    labels = [start[0], *(name for name, _ in flows), end[0]]
    values = [start[1], *(value for _, value in flows), end[1]]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=["absolute", *(["relative"] * len(flows)), "total"],
            text=[money(v, currency) if i in (0, len(values) - 1) else f"{v:+,.0f}" for i, v in enumerate(values)],
            textposition="outside",
            connector={"line": {"color": "#bbb"}},
            increasing={"marker": {"color": PALETTE["actual"]}},
            decreasing={"marker": {"color": "#b5523b"}},
            totals={"marker": {"color": PALETTE["base"]}},
            cliponaxis=False,
        )
    )
    levels = [start[1]]
    for _, value in flows:
        levels.append(levels[-1] + value)
    levels.append(end[1])
    low, high = min(levels), max(levels)
    pad = max((high - low) * 0.25, high * 0.01, 1.0)
    if low - pad > 0 and (high - low) < 0.5 * high:
        # Flows a few percent of the pipeline would be slivers on an axis from zero: zoom to where they are,
        # and say so on the axis.
        fig.update_yaxes(range=[low - pad, high + pad], title_text=f"Open pipeline ({currency}; axis not from 0)")
    else:
        fig.update_yaxes(rangemode="tozero", title_text=f"Open pipeline ({currency})")
    fig.update_xaxes(title_text="")
    return _layout(fig, "What changed in the pipeline", height=380)
