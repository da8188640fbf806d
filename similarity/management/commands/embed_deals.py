"""`manage.py embed_deals --workspace SLUG [--all] [--json]`: embed the workspace's missing or stale deals."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from similarity.embedding import BATCH_SIZE, EmbeddingModelUnavailable, get_model
from similarity.services import deal_embeddings_refresh
from tenancy.commands import workspace_named

if TYPE_CHECKING:
    from tqdm import tqdm


class Command(BaseCommand):
    help = "Embed the deals of a workspace that have no embedding or whose text changed (--all: every deal)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="the workspace's slug")
        parser.add_argument("--all", action="store_true", help="re-embed every deal, even unchanged ones")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_named(options["workspace"])
        batch_size = int(options["batch_size"])
        if not 1 <= batch_size <= 512:
            raise CommandError("--batch-size must be between 1 and 512.")
        bar = _ProgressBar()
        try:
            # Loaded before the clock starts: per_second is the embedding rate, not the one-off model load.
            get_model()
            result = deal_embeddings_refresh(
                workspace_id=workspace.id, force=bool(options["all"]), batch_size=batch_size, progress=bar.update
            )
        except EmbeddingModelUnavailable as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_dict()))
        else:
            self.stdout.write(
                f"{workspace.slug}: embedded {result.embedded} deal(s), skipped {result.skipped} unchanged, "
                f"in {result.seconds:.1f}s ({result.per_second}/s)"
            )


class _ProgressBar:
    """A tqdm bar on stderr, so --json output on stdout stays machine-readable."""

    def __init__(self) -> None:
        self._bar: tqdm | None = None

    def update(self, done: int, total: int) -> None:
        if self._bar is None:
            if not total:
                return
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="deal", file=sys.stderr, desc="embedding")
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
