"""A generated win/loss set shaped like a real B2B export, for exercising the scorer at size (no Django here).

Each row holds only what is known when an opportunity is created: nine categorical and numeric
fields (product group and subgroup, region, route to market, amount, client size by revenue and by
employees, revenue from the client in the past two years, competitor type) and the result. The
outcome follows a learnable signal, main effects plus a few interactions that trees find and a
linear model misses, with noise; a small share of rows repeat an earlier row's id, as exports do.
The CSV imports with `import_crm --format csv --mapping` and the mapping `MAPPING` (written beside
the file by `manage.py generate_winloss`).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS = [
    "Opportunity Number",
    "Supplies Group",
    "Supplies Subgroup",
    "Region",
    "Route To Market",
    "Opportunity Amount USD",
    "Client Size By Revenue",
    "Client Size By Employee Count",
    "Revenue From Client Past Two Years",
    "Competitor Type",
    "Opportunity Result",
]
MAPPING = {
    "external_id": "Opportunity Number",
    "title": "{Supplies Subgroup} – {Region} ({Route To Market})",
    "amount": "Opportunity Amount USD",
    "outcome": {"column": "Opportunity Result", "won": ["Won"], "lost": ["Loss"]},
    # The amount is an attribute too: an undated import's amount is masked as possibly final, while this
    # one is the opportunity's amount at creation.
    "attributes": [
        "Opportunity Amount USD",
        "Supplies Group",
        "Supplies Subgroup",
        "Region",
        "Route To Market",
        "Client Size By Revenue",
        "Client Size By Employee Count",
        "Revenue From Client Past Two Years",
        "Competitor Type",
    ],
}
_GROUPS = {
    "Car Accessories": ["Exterior Accessories", "Motorcycle Parts", "Shelters & RV", "Towing & Hitches"],
    "Performance & Non-auto": ["Batteries & Accessories", "Tires & Wheels", "Performance Parts", "Garage & Car Care"],
    "Tires & Wheels": ["Tires", "Wheels"],
    "Car Electronics": ["Car Audio", "Navigation", "Radar & Laser"],
}
_REGIONS = ["Pacific", "Midwest", "Northwest", "Southwest", "Mid-Atlantic", "Northeast", "Southeast"]
_ROUTES = ["Fields Sales", "Reseller", "Other", "Telesales", "Telecoverage"]
_COMPETITORS = ["Unknown", "Known", "None"]
_PAST_REVENUE = ["0 (No business)", "1 to 50,000", "50,000 to 400,000", "400,000 to 1.5M", "More than 1.5M"]


def generate(rows: int, *, seed: int = 0, duplicate_share: float = 0.0025) -> tuple[list[list[object]], float]:
    """`rows` rows (header not included) and the share won. Deterministic for a seed."""
    rng = np.random.default_rng(seed)
    groups = list(_GROUPS)
    group = rng.choice(len(groups), size=rows, p=[0.35, 0.3, 0.2, 0.15])
    sub_index = np.array([rng.integers(len(_GROUPS[groups[g]])) for g in group])
    region = rng.choice(len(_REGIONS), size=rows)
    route = rng.choice(len(_ROUTES), size=rows, p=[0.55, 0.25, 0.08, 0.07, 0.05])
    size_rev = rng.integers(1, 6, size=rows)
    size_emp = np.clip(size_rev + rng.integers(-1, 2, size=rows), 1, 5)
    past = rng.choice(len(_PAST_REVENUE), size=rows, p=[0.78, 0.06, 0.07, 0.05, 0.04])
    competitor = rng.choice(len(_COMPETITORS), size=rows, p=[0.7, 0.2, 0.1])
    amount = np.round(np.exp(rng.normal(10.5, 1.3, size=rows)), -1)

    # The signal: an existing customer wins far more often, large deals less, some routes and
    # subgroups more; plus interactions (a large deal through a reseller, a known competitor on a
    # new client, small clients buying big) that a linear model on one-hot columns cannot express.
    sub_effect = rng.normal(0, 0.6, size=max(len(v) for v in _GROUPS.values()) * len(groups))
    logit = -1.55 + 1.1 * past - 0.35 * (np.log(amount) - 10.5)
    logit += np.array([0.0, 0.5, -0.3, 0.9, 0.2])[route]
    logit += sub_effect[group * 4 + sub_index]
    logit += np.array([0.2, -0.1, 0.0, 0.1, -0.2, 0.15, -0.15])[region]
    logit += np.where((route == 1) & (amount > 60_000), -1.8, 0.0)
    logit += np.where((competitor == 1) & (past == 0), -1.2, 0.0)
    logit += np.where((size_rev <= 2) & (amount > 100_000), -1.5, 0.0)
    logit += np.where((past >= 2) & (route == 0), 1.0, 0.0)
    logit += rng.normal(0, 0.35, size=rows)  # what the fields do not know
    won = rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))

    ids = np.arange(7_000_000, 7_000_000 + rows)
    dup = rng.random(rows) < duplicate_share
    dup[0] = False
    ids[dup] = ids[rng.integers(0, np.maximum(np.flatnonzero(dup), 1))]
    out = []
    for i in range(rows):
        name = groups[group[i]]
        out.append(
            [
                int(ids[i]),
                name,
                _GROUPS[name][sub_index[i]],
                _REGIONS[region[i]],
                _ROUTES[route[i]],
                f"{amount[i]:.0f}",
                int(size_rev[i]),
                int(size_emp[i]),
                _PAST_REVENUE[past[i]],
                _COMPETITORS[competitor[i]],
                "Won" if won[i] else "Loss",
            ]
        )
    return out, float(won.mean())


def write_csv(path: Path, rows: int, *, seed: int = 0) -> dict[str, object]:
    """Write the set to `path`; returns what it holds (rows, share won, repeated ids)."""
    data, won_share = generate(rows, seed=seed)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(data)
    ids = [r[0] for r in data]
    return {"rows": rows, "won_share": round(won_share, 4), "repeated_ids": len(ids) - len(set(ids))}
