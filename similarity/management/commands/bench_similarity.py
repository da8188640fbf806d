"""`manage.py bench_similarity --vectors 100000 --json`: speed and exactness of workspace-filtered search.

Builds clustered synthetic 384-d unit vectors (random vectors mislead: real embeddings sit in topic
clusters, and tenants selling alike things share topics) across many workspaces in a throwaway
copy of the embeddings table (`LIKE ... INCLUDING ALL`, so the same indexes) in a temporary schema,
then runs the real query code (`similarity.selectors._nearest_ids`) against it and compares every
answer with an exact NumPy search. The schema is dropped afterwards.

`--throughput N` also times the embedding pipeline (`deal_embeddings_refresh`, what `embed_deals`
runs) on N synthetic deals against raw `SentenceTransformer.encode` on the same texts and batch
size; those deals live inside a transaction that is rolled back.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.test.utils import override_settings
from pgvector.psycopg import register_vector

from crm.models import Deal
from crm.services import pipeline_create_default
from similarity import embedding
from similarity.selectors import _nearest_ids, nearest_sql
from similarity.services import deal_embeddings_refresh, deal_texts
from tenancy.models import Workspace

OUTCOMES = np.array(["open", "won", "lost"])
FILTERS = [None, "won", "lost", "closed"]
_ALLOWED = {None: {"open", "won", "lost"}, "won": {"won"}, "lost": {"lost"}, "closed": {"won", "lost"}}


class _Rollback(Exception):
    pass


def clustered_vectors(
    n: int, workspaces: int, rng: np.random.Generator, *, topics: int = 400, topics_per_workspace: int = 25
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vectors, workspace ids, outcomes, topics of each workspace, topic centres).

    Each workspace draws from its own subset of topics shared by all workspaces.
    """
    centres = rng.normal(size=(topics, embedding.DIMENSIONS)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    workspace_topics = np.stack([rng.choice(topics, topics_per_workspace, replace=False) for _ in range(workspaces)])
    ws = rng.integers(0, workspaces, size=n)
    topic = workspace_topics[ws, rng.integers(0, topics_per_workspace, size=n)]
    # noise 0.06 per dimension: within-topic cosine ~0.6, like paraphrases of one kind of deal.
    vectors = centres[topic] + rng.normal(scale=0.06, size=(n, embedding.DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    outcomes = OUTCOMES[rng.choice(3, size=n, p=[0.4, 0.35, 0.25])]
    return vectors.astype(np.float32), ws + 1, outcomes, workspace_topics, centres


class Command(BaseCommand):
    help = "Benchmark workspace-filtered top-k similar-deal queries (and, with --throughput, embedding speed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--vectors", type=int, default=100_000)
        parser.add_argument("--workspaces", type=int, default=50)
        parser.add_argument("--queries", type=int, default=1000)
        parser.add_argument("--k", type=int, default=10)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--throughput", type=int, default=0, metavar="N", help="also time embedding N deals")
        parser.add_argument(
            "--workspace", default="", help="with --throughput: use that workspace's first N deals (e.g. demo)"
        )
        parser.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["vectors"] < opts["workspaces"] or opts["workspaces"] < 1 or not 1 <= opts["k"] <= 100:
            raise CommandError("Need --vectors >= --workspaces >= 1 and 1 <= --k <= 100.")
        report: dict[str, Any] = self._search(opts)
        if opts["throughput"]:
            report["throughput"] = self._throughput(opts["throughput"], opts["workspace"])
        if opts["json"]:
            self.stdout.write(json.dumps(report))
        else:
            for key, value in report.items():
                self.stdout.write(f"{key}: {value}")

    # --- search -----------------------------------------------------------------------------------

    def _search(self, opts: dict[str, Any]) -> dict[str, Any]:
        rng = np.random.default_rng(opts["seed"])
        n, k = opts["vectors"], opts["k"]
        self.stderr.write(f"generating {n} clustered vectors across {opts['workspaces']} workspaces…")
        vectors, ws, outcomes, workspace_topics, topic_centres = clustered_vectors(n, opts["workspaces"], rng)
        order = rng.permutation(n)  # rows arrive interleaved across workspaces, as real deals do
        schema = f"bench_similarity_{os.getpid()}"
        started = time.perf_counter()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"CREATE SCHEMA {schema}")
                cursor.execute(
                    f"CREATE TABLE {schema}.similarity_dealembedding "
                    "(LIKE public.similarity_dealembedding INCLUDING ALL)"
                )
            self._copy(schema, vectors, ws, outcomes, order)
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {schema}.similarity_dealembedding")
                cursor.execute(f"SET search_path TO {schema}, public")
            load_seconds = time.perf_counter() - started
            self.stderr.write(f"loaded in {load_seconds:.1f}s; running {opts['queries']} queries…")
            # As in production (DEBUG off): the debug cursor would keep every 4 kB query string in memory.
            with override_settings(DEBUG=False):
                result = self._queries(opts, rng, vectors, ws, outcomes, workspace_topics, topic_centres, k)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET search_path TO public")
                cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        sizes = np.bincount(ws)[1:]
        return {
            **result,
            "vectors": n,
            "workspaces": opts["workspaces"],
            "rows_per_workspace": [int(sizes.min()), int(sizes.max())],
            "k": k,
            "plan": "b-tree (workspace_id, outcome, closed_at) + exact ORDER BY embedding <#> q LIMIT k (unit vectors)",
            "load_seconds": round(load_seconds, 1),
            # Latencies include the client round trip; on a shared machine they move with its load.
            "load_average_1m": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
        }

    def _copy(self, schema: str, vectors: np.ndarray, ws: np.ndarray, outcomes: np.ndarray, order: np.ndarray) -> None:
        raw = connection.connection
        register_vector(raw)
        base = datetime(2024, 1, 1, tzinfo=UTC)
        columns = "deal_id, workspace_id, embedding, text_hash, model_name, embedded_at, outcome, closed_at"
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {schema}.similarity_dealembedding ({columns}) FROM STDIN WITH (FORMAT BINARY)") as copy,
        ):
            copy.set_types(["int8", "int8", "vector", "varchar", "varchar", "timestamptz", "varchar", "timestamptz"])
            for i in order:
                closed = None if outcomes[i] == "open" else base + timedelta(hours=int(i))
                copy.write_row((int(i) + 1, int(ws[i]), vectors[i], "bench", "bench", base, str(outcomes[i]), closed))

    def _queries(
        self,
        opts: dict[str, Any],
        rng: np.random.Generator,
        vectors: np.ndarray,
        ws: np.ndarray,
        outcomes: np.ndarray,
        workspace_topics: np.ndarray,
        topic_centres: np.ndarray,
        k: int,
    ) -> dict[str, Any]:
        by_ws = {w: np.flatnonzero(ws == w) for w in np.unique(ws)}
        latencies, server, recalls, leaks, short = [], [], [], 0, 0
        total = opts["queries"]
        warmup = min(50, total)
        for q in range(total + warmup):
            w = int(rng.integers(1, opts["workspaces"] + 1))
            topic = workspace_topics[w - 1, rng.integers(0, workspace_topics.shape[1])]
            query = topic_centres[topic] + rng.normal(scale=0.06, size=embedding.DIMENSIONS)
            query = (query / np.linalg.norm(query)).astype(np.float32)
            flt = FILTERS[q % len(FILTERS)]
            t = time.perf_counter()
            hits = _nearest_ids(workspace_id=w, vector=query, k=k, outcome=flt)
            elapsed = time.perf_counter() - t
            if q < warmup:
                continue
            latencies.append(elapsed * 1000)
            if q % 5 == 0:  # the database's own execution time, without the client round trip
                sql, params = nearest_sql(workspace_id=w, vector=query, k=k, outcome=flt)
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
                    plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                server.append(float(plan[0]["Execution Time"]))
            ids = np.array([deal_id - 1 for deal_id, _ in hits], dtype=np.int64)
            leaks += int(np.sum(ws[ids] != w)) if len(ids) else 0
            rows = by_ws[w]
            rows = rows[np.isin(outcomes[rows], list(_ALLOWED[flt]))]
            distances = 1.0 - vectors[rows] @ query
            truth = set(rows[np.argsort(distances, kind="stable")[:k]].tolist())
            if len(ids) < min(k, len(rows)):
                short += 1
            recalls.append(len(truth & set(ids.tolist())) / len(truth) if truth else 1.0)
        lat = np.array(latencies)
        return {
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "recall_at_10" if k == 10 else f"recall_at_{k}": round(float(np.mean(recalls)), 4),
            "leaks": leaks,
            "server_p50_ms": round(float(np.percentile(server, 50)), 2),
            "server_p99_ms": round(float(np.percentile(server, 99)), 2),
            "short_results": short,
            "queries": total,
        }

    # --- embedding throughput ---------------------------------------------------------------------

    def _throughput(self, n: int, slug: str) -> dict[str, Any]:
        self.stderr.write("loading the model…")
        embedding.get_model()
        embedding.encode(["warm up"] * 8)
        figures: dict[str, Any] = {"deals": n, "batch_size": embedding.BATCH_SIZE}
        try:
            with transaction.atomic():
                if slug:
                    workspace = Workspace.objects.filter(slug=slug).first()
                    if workspace is None:
                        raise CommandError(f"No workspace with the slug {slug!r}.")
                    ids = list(Deal.objects.for_workspace(workspace).order_by("id").values_list("id", flat=True)[:n])
                    figures["source"] = f"workspace {slug}"
                else:
                    workspace, ids = self._synthetic_deals(n), None
                    figures["source"] = "synthetic deals"
                texts = [p.text for p in deal_texts(workspace_id=workspace.id, deal_ids=ids)]
                figures["deals"] = len(texts)
                # Interleaved, best of two each: on a shared machine a single run mostly measures the neighbours.
                raw_runs, pipeline_runs = [], []
                for _ in range(2):
                    raw_runs.append(self._raw(texts))
                    result = deal_embeddings_refresh(workspace_id=workspace.id, deal_ids=ids, force=True)
                    pipeline_runs.append(result.per_second)
                raise _Rollback  # leaves the workspace's embeddings (and any synthetic deals) as they were
        except _Rollback:
            pass
        raw, pipeline_speed = max(raw_runs), max(pipeline_runs)
        tokenizer = embedding.get_model().tokenizer
        figures.update(
            {
                "encode_per_second": round(raw, 1),
                "embed_deals_per_second": pipeline_speed,
                "ratio": round(pipeline_speed / raw, 3) if raw else None,
                "runs": {"encode": [round(r, 1) for r in raw_runs], "embed_deals": pipeline_runs},
                "mean_text_chars": round(float(np.mean([len(t) for t in texts])), 0),
                "mean_tokens": round(float(np.mean([len(tokenizer(t)["input_ids"]) for t in texts])), 0),
                "torch_threads": _torch_threads(),
            }
        )
        return figures

    @staticmethod
    def _synthetic_deals(n: int) -> Any:
        rng = np.random.default_rng(1)
        products = ["analytics suite", "GTX Pro", "MG Special", "security gateway", "CRM seats", "data platform"]
        industries = ["retail", "software", "finance", "medical", "telecom", "entertainment"]
        stages = ["Prospecting", "Qualification", "Discovery", "Proposal", "Negotiation"]
        workspace = Workspace.objects.create(name="Throughput bench", slug=f"bench-{os.getpid()}")
        pipeline = pipeline_create_default(workspace=workspace)
        stage_by_name = {s.name: s for s in pipeline.stages.all()}
        Deal.objects.bulk_create(
            Deal(
                workspace=workspace,
                pipeline=pipeline,
                stage=stage_by_name[stages[i % len(stages)]],
                title=f"{products[i % 6]} for account {i}",
                description=(
                    f"{rng.integers(5, 500)} seats of {products[i % 6]}; the buyer's "
                    f"{['CFO', 'CIO', 'legal team', 'procurement'][i % 4]} wants "
                    f"{['a discount', 'a pilot first', 'a security review', 'a longer contract'][i % 4]}."
                ),
                attributes={"product": products[i % 6], "industry": industries[i % 6]},
            )
            for i in range(n)
        )
        return workspace

    @staticmethod
    def _raw(texts: list[str]) -> float:
        model = embedding.get_model()
        t = time.perf_counter()
        model.encode(texts, batch_size=embedding.BATCH_SIZE, normalize_embeddings=True, show_progress_bar=False)
        return len(texts) / (time.perf_counter() - t)


def _torch_threads() -> int:
    import torch  # loaded only when the benchmark embeds: torch takes seconds to import

    return int(torch.get_num_threads())
