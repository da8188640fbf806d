"""`python -m tests.schemathesis_cli run ...`: the schemathesis CLI, runnable beside urllib3-future.

When a package pulls in urllib3-future (niquests does), it replaces `urllib3` in the environment, and schemathesis's
count of open connections (read only to decide whether to resend a request whose keep-alive connection the server had
closed) trips over its different pool container. Only that count is replaced here, by one that never sees a change,
and only under the fork; requests, checks and reports are schemathesis's own.
"""

from __future__ import annotations

import urllib3
from schemathesis.cli import schemathesis

if "urllib3_future" in getattr(urllib3, "__file__", "") or hasattr(urllib3, "AsyncPoolManager"):
    import schemathesis.transport.requests as transport

    transport._count_opened_connections = lambda session: 0

if __name__ == "__main__":
    schemathesis()
