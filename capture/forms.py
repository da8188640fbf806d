"""Input of the capture screens."""

from __future__ import annotations

from urllib.parse import quote

from django import forms

from capture.models import CapturePolicy


class ImapForm(forms.Form):
    host = forms.CharField(max_length=200)
    port = forms.IntegerField(min_value=1, max_value=65535, initial=993)
    tls = forms.BooleanField(required=False, initial=True, label="TLS (imaps)")
    username = forms.CharField(max_length=200)
    password = forms.CharField(max_length=500, widget=forms.PasswordInput)
    folders = forms.CharField(
        max_length=500, required=False, help_text="Comma-separated; empty for INBOX and the sent folder."
    )

    def imap_url(self) -> str:
        d = self.cleaned_data
        scheme = "imaps" if d["tls"] else "imap"
        folders = ",".join(quote(f.strip(), safe="") for f in d["folders"].split(",") if f.strip())
        user, password = quote(d["username"], safe=""), quote(d["password"], safe="")
        return f"{scheme}://{user}:{password}@{d['host']}:{d['port']}/{folders}"


class CalDavForm(forms.Form):
    url = forms.URLField(max_length=500, label="CalDAV URL", assume_scheme="https")
    username = forms.CharField(max_length=200)
    password = forms.CharField(max_length=500, widget=forms.PasswordInput)


class DisconnectForm(forms.Form):
    delete_captured = forms.BooleanField(required=False, label="Also delete what it captured")


class AssignForm(forms.Form):
    deal = forms.UUIDField()


class PolicyForm(forms.ModelForm):
    class Meta:
        model = CapturePolicy
        fields = ["store_bodies", "blocklist", "personal_domains"]
        labels = {"store_bodies": "Store message bodies (otherwise subject, participants and a snippet only)"}
        help_texts = {
            "blocklist": "One address or domain per line: mail and meetings involving them are never stored.",
            "personal_domains": "Personal mail providers: their addresses are never stored.",
        }
