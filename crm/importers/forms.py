"""Forms of the import page: the upload, a column mapping built from a CSV's header, the start button."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from django import forms

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
FORMAT_CHOICES = [
    ("csv", "CSV file with a column mapping"),
    ("maven", "Maven “CRM Sales Opportunities” folder (.zip)"),
    ("salesforce", "Salesforce export folder (.zip of Opportunity.csv, OpportunityHistory.csv, …)"),
    ("hubspot", "HubSpot deals export (.csv, or a .zip with deals/companies/contacts)"),
]


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


def load_preset(name: str) -> dict[str, Any]:
    if name not in preset_names():
        raise ValueError(f"no preset called {name!r}")
    return json.loads((PRESETS_DIR / f"{name}.json").read_text(encoding="utf-8"))


class UploadForm(forms.Form):
    file = forms.FileField(help_text="The file (or the .zip of a folder) exported from your CRM.")
    fmt = forms.ChoiceField(label="Format", choices=FORMAT_CHOICES, initial="csv")
    preset = forms.ChoiceField(
        label="CSV mapping", required=False, help_text="A shipped preset, or map the columns yourself on the next step."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        preset = self.fields["preset"]
        assert isinstance(preset, forms.ChoiceField)
        preset.choices = [("", "I will map the columns"), *[(n, n) for n in preset_names()]]

    def mapping(self) -> dict[str, Any]:
        preset = self.cleaned_data.get("preset")
        return load_preset(preset) if preset and self.cleaned_data["fmt"] == "csv" else {}


ENCODINGS = [("utf-8", "UTF-8"), ("cp1252", "Windows-1252 (Excel, Western Europe)"), ("latin-1", "ISO-8859-1")]
DELIMITERS = [("", "detect"), (",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")]
_COLUMN_FIELDS = (
    ("external_id", "Id (upsert key)"),
    ("title", "Title"),
    ("amount", "Amount"),
    ("stage", "Stage"),
    ("owner", "Owner"),
    ("company", "Company"),
    ("created", "Created"),
    ("closed", "Closed"),
    ("expected_close", "Expected close"),
)


class MappingForm(forms.Form):
    """Which column holds what; built from the file's header, so only real columns can be picked."""

    def __init__(self, *args: Any, columns: list[str], mapping: dict[str, Any] | None = None, **kwargs: Any) -> None:
        mapping = mapping or {}
        outcome = mapping.get("outcome") or {}
        initial = {key: mapping.get(key, "") for key, _label in _COLUMN_FIELDS}
        initial |= {
            "outcome_column": outcome.get("column", ""),
            "won": ", ".join(outcome.get("won", [])),
            "lost": ", ".join(outcome.get("lost", [])),
            "attributes": mapping.get("attributes", []),
        }
        initial |= {"encoding": mapping.get("encoding", "utf-8"), "delimiter": mapping.get("delimiter", "")}
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        self.base_mapping = {k: v for k, v in mapping.items() if k == "date_formats"}
        self.columns = set(columns)
        if "{" in str(mapping.get("title", "")):  # a title template, e.g. "{Product} for {Client}"
            initial["title_template"], initial["title"] = mapping["title"], ""
        self.fields["encoding"] = forms.ChoiceField(label="Encoding", choices=ENCODINGS, required=False)
        self.fields["delimiter"] = forms.ChoiceField(label="Delimiter", choices=DELIMITERS, required=False)
        choices = [("", "—"), *[(c, c) for c in columns]]
        for key, label in _COLUMN_FIELDS:
            self.fields[key] = forms.ChoiceField(label=label, choices=choices, required=False)
        self.fields["title_template"] = forms.CharField(
            label="Title from several columns",
            required=False,
            max_length=300,
            help_text="E.g. {Product} for {Client}; used instead of the Title column.",
        )
        self.fields["outcome_column"] = forms.ChoiceField(label="Outcome column", choices=choices, required=False)
        self.fields["won"] = forms.CharField(label="Values meaning won", required=False, max_length=500)
        self.fields["lost"] = forms.CharField(label="Values meaning lost", required=False, max_length=500)
        self.fields["attributes"] = forms.MultipleChoiceField(
            label="Extra attributes",
            choices=choices[1:],
            required=False,
            widget=forms.SelectMultiple(attrs={"size": 6}),
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("won") or data.get("lost")) and not data.get("outcome_column"):
            self.add_error("outcome_column", "Pick the column that holds the won/lost values.")
        template = data.get("title_template") or ""
        unknown = sorted(set(re.findall(r"\{([^{}]+)\}", template)) - self.columns)
        if template and "{" not in template:
            self.add_error("title_template", "Put column names in braces, e.g. {Product}.")
        elif unknown:
            self.add_error("title_template", f"No such column: {', '.join(unknown)}.")
        return data

    def mapping(self) -> dict[str, Any]:
        data = self.cleaned_data
        found: dict[str, Any] = dict(self.base_mapping)
        if data.get("encoding") and data["encoding"] != "utf-8":
            found["encoding"] = data["encoding"]
        if data.get("delimiter"):
            found["delimiter"] = data["delimiter"]
        found.update({key: data[key] for key, _label in _COLUMN_FIELDS if data.get(key)})
        if data.get("title_template"):
            found["title"] = data["title_template"]
        if data.get("outcome_column"):
            found["outcome"] = {
                "column": data["outcome_column"],
                "won": [v.strip() for v in data["won"].split(",") if v.strip()],
                "lost": [v.strip() for v in data["lost"].split(",") if v.strip()],
            }
        if data.get("attributes"):
            found["attributes"] = list(data["attributes"])
        return found


class StartForm(forms.Form):
    skip_invalid = forms.BooleanField(
        label="Import the good rows and report the bad ones",
        required=False,
        help_text="Otherwise one bad row stops it all.",
    )
