"""The deterministic briefs: the same facts written out by rule, used whenever the model's answer cannot be.

Every number here is a fact as it stands (money to the unit, percentages to one decimal), so a fallback
passes the grounding check by construction (tests check that it does). Names come from the facts'
untrusted block, as text; they are escaped on the page like any user text.
"""

from __future__ import annotations

from typing import Any

LABEL = "VectorOS summary, built from the facts by rule (not written by AI)"


def money(amount: float | int | None, currency: str) -> str:
    value = float(amount or 0)
    sign = "-" if value < 0 else ""
    return f"{sign}{currency} {abs(value):,.0f}"


def _deal_lines(facts: dict[str, Any]) -> list[str]:
    deal, untrusted = facts["deal"], facts["untrusted"]
    currency = deal["currency"]
    title = untrusted.get("title") or "This deal"
    line = f"{title} is {deal['outcome']} in {deal['stage']}, worth {money(deal['amount'], currency)}"
    if deal.get("days_in_stage") is not None:
        line += f", {deal['days_in_stage']} days in the stage"
    lines = [line + "."]
    if deal.get("expected_close_date"):
        lines.append(
            f"Expected to close on {deal['expected_close_date']} ({deal['days_to_expected_close']} days from today)."
        )
    chances = [f"the rep says {deal['rep_probability_pct']}%"]
    if deal.get("model_win_probability_pct") is not None:
        chances.append(f"the scoring model {deal['model_win_probability_pct']}%")
    if deal.get("forecast_chance_this_period_pct") is not None:
        chances.append(f"the forecast {deal['forecast_chance_this_period_pct']}% for this period")
    lines.append("Chance of winning: " + ", ".join(chances) + ".")
    return lines


def _activity_line(activity: dict[str, Any]) -> str:
    if activity.get("days_since_last") is None:
        return "No activity is logged on this deal."
    return (
        f"Last activity: {activity['last_kind']} on {activity['last_on']} ({activity['days_since_last']} days ago); "
        f"{activity['in_window']} in the last {activity['window_days']} days."
    )


def _alert_lines(alerts: list[dict[str, Any]], currency: str) -> list[str]:
    if not alerts:
        return ["No open alerts."]
    return [
        f"{alert['priority']} alert, {alert['kind']}: {money(alert['revenue_at_risk'], currency)} at risk. "
        f"Next: {alert['suggested_next_step']}"
        for alert in alerts
    ]


def deal_brief(facts: dict[str, Any]) -> str:
    history = facts["history"]
    currency = facts["deal"]["currency"]
    happened = _deal_lines(facts)
    happened.append(
        f"Changes recorded: {history['stage_changes']} stage, {history['amount_changes']} amount, "
        f"{history['close_date_changes']} close date."
    )
    happened.append(_activity_line(facts["activity"]))
    risks = _alert_lines(facts["alerts"], currency)
    next_step = facts["untrusted"].get("next_step")
    todo = [f"Next step on record: {next_step}"] if next_step else ["No next step is recorded: agree one."]
    return "\n".join([LABEL, "", "What happened", *happened, "", "Risks", *risks, "", "What to do next", *todo])


def meeting_prep(facts: dict[str, Any]) -> str:
    untrusted = facts["untrusted"]
    contacts = untrusted.get("contacts") or []
    people = [f"{c['name']}{', ' + c['title'] if c.get('title') else ''}" for c in contacts]
    lines = [LABEL, "", *_deal_lines(facts), _activity_line(facts["activity"])]
    lines += ["", "Who", *(people or ["No contacts on this deal."])]
    recent = untrusted.get("recent_activities") or []
    lines += [
        "",
        "Recent conversations",
        *([f"{a['on']} {a['kind']}: {a['subject']}" for a in recent[:5]] or ["None."]),
    ]
    lines += ["", "Open risks", *_alert_lines(facts["alerts"], facts["deal"]["currency"])]
    return "\n".join(lines)


def _forecast_line(forecast: dict[str, Any] | None, currency: str) -> str:
    if forecast is None:
        return "No forecast has been run yet."
    line = (
        f"Forecast of {forecast['run_on']}: {money(forecast['expected_open_pipeline'], currency)} expected from "
        f"{forecast['open_deals_forecast']} open deals"
    )
    if "p50" in forecast:
        line += (
            f"; the period lands between {money(forecast['p10'], currency)} and {money(forecast['p90'], currency)}"
            f" (median {money(forecast['p50'], currency)})"
        )
    return line + "."


def weekly(facts: dict[str, Any]) -> str:
    currency = facts["currency"]
    pipeline, window = facts["pipeline"], facts["window"]
    titles = facts["untrusted"]["deal_titles"]
    lines = [
        LABEL,
        "",
        f"Pipeline for {facts['scope']}, {window['from']} to {window['to']}: "
        f"{money(pipeline['start']['amount'], currency)} in {pipeline['start']['deals']} deals became "
        f"{money(pipeline['end']['amount'], currency)} in {pipeline['end']['deals']} deals "
        f"({money(pipeline['change'], currency)}).",
    ]
    for flow in facts["flows"].values():
        largest = ", ".join(
            f"{titles.get(d['deal'], 'a deal')} {money(d['amount'], currency)}" for d in flow["largest"]
        )
        lines.append(f"{flow['label']}: {flow['deals']} deals, {money(flow['amount'], currency)} (largest: {largest}).")
    lines.append(_forecast_line(facts["forecast"], currency))
    lines.append(f"Alerts needing attention: {facts['alerts_needing_attention']}, {facts['urgent_alerts']} urgent.")
    return "\n".join(lines)


def forecast_change(facts: dict[str, Any]) -> str:
    if facts["runs"] < 2:
        return "\n".join([LABEL, "", "There is no earlier forecast to compare with yet."])
    currency = facts["currency"]
    titles = facts["untrusted"]["deal_titles"]
    lines = [
        LABEL,
        "",
        "Before: " + _forecast_line(facts["before"], currency),
        "Now: " + _forecast_line(facts["after"], currency),
        f"Expected revenue from the deals in view moved by {money(facts['expected_change'], currency)}.",
    ]
    for move in facts["deals_that_moved_it"]:
        state = move["outcome"] if move["closed"] else f"now in {move['stage_now']}"
        lines.append(
            f"{titles.get(move['deal'], 'A deal')}: {money(move['expected_before'], currency)} to "
            f"{money(move['expected_after'], currency)} ({money(move['change'], currency)}), {state}."
        )
    for flow in facts["pipeline_waterfall"].values():
        lines.append(f"Pipeline {flow['label'].lower()}: {flow['deals']} deals, {money(flow['amount'], currency)}.")
    return "\n".join(lines)


WRITERS = {"deal": deal_brief, "meeting_prep": meeting_prep, "weekly": weekly, "forecast_change": forecast_change}


def write(facts: dict[str, Any]) -> str:
    return WRITERS[facts["kind"]](facts)
