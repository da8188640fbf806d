"""Long-lived objects out of the garbage collector's way, in web and worker processes.

A Django process holds a few hundred thousand long-lived objects from its imports (Django, the URLconf, NumPy,
scikit-learn, the model code). CPython's full collection walks all of them: measured on the demo, about 270 ms,
once every few dozen page views, during which every thread of that process stands still — a page in a gunicorn
worker waits for it, and so does a re-forecast in a django-q2 worker. `gc.freeze()` moves what is alive at that
moment to a generation the collector no longer walks; objects freed by reference counting are still freed.
Collect first, so nothing that is already garbage is frozen.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

_frozen_at_modules = 0


def freeze_long_lived() -> None:
    """Collect, then take what is alive now out of future collections (after start-up's imports)."""
    global _frozen_at_modules
    gc.collect()
    gc.freeze()
    _frozen_at_modules = len(sys.modules)


def freeze_after_new_imports(**_signal: Any) -> None:
    """After a task in a django-q2 worker: freeze again when the task imported modules (a worker imports its
    forecasting, scoring or embedding code on the first task of each kind), so a handful of times per process."""
    if len(sys.modules) != _frozen_at_modules:
        freeze_long_lived()


def warm_web() -> None:
    """In each web process before it serves: import every view (the URLconf; the first request would otherwise
    pay it, seconds) and freeze what start-up left alive."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (importing the URLconf is the point)
    freeze_long_lived()
