"""`make api-contract`: schemathesis, full size, against the local demo as `make run` serves it; prints its summary.

Starts `manage.py run --role web` on API_CONTRACT_PORT (default 8765) over the seeded demo workspace, makes a
read-write API key for it, runs the schemathesis CLI (every operation, all phases, API_CONTRACT_EXAMPLES examples per
operation, default 50, for at most API_CONTRACT_SECONDS, default 1200), revokes the key and stops the server.
Prints schemathesis's summary and one JSON line of figures; exits non-zero on any contract failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.test_api_contract import ALLOWED_REJECTIONS, contract_failures, schemathesis_run  # noqa: E402


def main() -> int:
    port = int(os.environ.get("API_CONTRACT_PORT", "8765"))
    examples = int(os.environ.get("API_CONTRACT_EXAMPLES", "50"))
    seconds = int(os.environ.get("API_CONTRACT_SECONDS", "1200"))
    manage = [sys.executable, str(ROOT / "manage.py")]
    made = subprocess.run(  # noqa: S603 (our own manage.py)
        [*manage, "create_api_key", "--workspace", "demo", "--name", "make api-contract", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    raw = json.loads(made.stdout)["key"]
    server = subprocess.Popen([*manage, "run", "--role", "web", "--port", str(port)], cwd=ROOT)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/v1/health/", timeout=5)  # noqa: S310 (our own local server)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    print("the server did not start", file=sys.stderr)
                    return 2
                time.sleep(1)
        with tempfile.TemporaryDirectory() as reports:
            report = schemathesis_run(base, raw, Path(reports), examples=examples, seconds=seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
        revoke = "from tenancy.models import ApiKey; from django.utils import timezone; "
        revoke += "ApiKey.objects.filter(name='make api-contract').update(revoked_at=timezone.now())"
        subprocess.run([*manage, "shell", "-c", revoke], check=False)  # noqa: S603 (our own manage.py)
    stdout = report.pop("stdout")
    print(stdout[stdout.rfind("SUMMARY") - 40 :])
    failures = contract_failures(report)
    figures = {
        "operations": report["operations"]["tested"],
        "test_cases": report["test_cases"]["generated"],
        "failures": {f["code"] + " " + f["title"]: f["count"] for f in report["failures"]},
        "allowed_rejections": sorted(ALLOWED_REJECTIONS),
        "contract_failures": failures,
    }
    print(json.dumps(figures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
