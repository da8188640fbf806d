"""Forms of the import page: the upload, a column mapping built from a CSV's header, the start button."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from crm.importers.automap import REQUIRED, auto_mapping

FORMAT_CHOICES = [
    ("csv", "CSV file (columns recognised by name; you can change the mapping next)"),
    ("maven", "Maven “CRM Sales Opportunities” folder (.zip)"),
    ("salesforce", "Salesforce export folder (.zip of Opportunity.csv, OpportunityHistory.csv, …)"),
    ("hubspot", "HubSpot deals export (.csv, or a .zip with deals/companies/contacts)"),
]


class UploadForm(forms.Form):
    """The file and its format. The shipped mapping presets (e.g. salvirt-b2b, a research data set) are for
    `import_crm --mapping`; people map their own columns on the next step."""

    file = forms.FileField(help_text="The file (or the .zip of a folder) exported from your CRM or spreadsheet.")
    fmt = forms.ChoiceField(label="Format", choices=FORMAT_CHOICES, initial="csv")


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
        self.column_list = list(columns)
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
        """What the person picked; with no column picked at all, the columns recognised by name.
        Amount and stage are required either way (the preview says so and the import is refused without them)."""
        data = self.cleaned_data
        picked = any(data.get(k) for k, _label in _COLUMN_FIELDS) or data.get("title_template")
        found: dict[str, Any] = dict(self.base_mapping) if picked else auto_mapping(self.column_list)
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
        found["required"] = list(REQUIRED)
        return found


class StartForm(forms.Form):
    skip_invalid = forms.BooleanField(
        label="Import the good rows and report the bad ones",
        required=False,
        help_text="Otherwise one bad row stops it all.",
    )
