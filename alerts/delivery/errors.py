"""The one error every sender raises; its own module because the outbox imports the senders and they import it."""

from __future__ import annotations


class DeliveryError(Exception):
    """A send that failed; `permanent` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
