"""What to do next: the deals that decide the period, rep and pipeline insights, grounded AI briefs (issue 17)."""

from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    verbose_name = "Insights and AI briefs"

    def ready(self) -> None:
        # The weekly digest (alerts, a lower layer) shows the five deals that decide the period through its hook.
        from alerts.delivery.email import DIGEST_SECTIONS
        from insights.digest import focus_section

        if focus_section not in DIGEST_SECTIONS:
            DIGEST_SECTIONS.append(focus_section)
