from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "capture"
    verbose_name = "Email and calendar capture"

    def ready(self) -> None:
        from capture.engagement import signal_rows
        from crm import engagement

        engagement.register(signal_rows)  # alerts and scoring read captured signals through crm.engagement
