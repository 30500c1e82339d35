"""Retrieval quality benchmark: top-1, top-3 and MRR per question set and language, and latency.

Builds the in-process index from the seed guides ("seed only") and, when the MyFixit corpus is
present, from the seed guides plus every MyFixit guide ("seed + MyFixit"). Every question set is
scored on its own, the sets the ranking may be tuned on ('seed', 'myfixit', 'myfixit_ja') apart
from the held-out sets ('holdout', 'holdout_myfixit'). Prints a table and writes
bench/results/retrieval_eval.json.

    python bench/retrieval_eval.py [--myfixit-dir ../shared/data/myfixit] [--show-misses]
    python bench/retrieval_eval.py --mode bm25 dense fused --embeddings-url URL/v1 \
        [--embeddings-model e5-query --passage-model e5-passage] [--vectors-cache FILE.npz] [--tune]

With an embeddings server, `dense` ranks by cosine alone and `fused` with the app's hybrid
search (`HybridIndex`, its language weights); `--tune` scores each dense weight on the tuning
sets only and prints the weight per language that does best (bench/hybrid_rankers.py).

A ranking mode is a `RankerFactory`: given a built corpus it returns a `Ranker`, a function from a
question to source ids, best first. `bm25` ranks with `GuideIndex`; a dense ranker passed to
`ranking_modes` adds the `dense` mode and the `fused` mode (reciprocal rank fusion of both).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repairgpt.services.retrieval import GuideDoc, GuideIndex, docs_from_guide_file

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = REPO_ROOT / "app" / "repairgpt" / "data" / "seed_guides.json"
EVAL_FILE = REPO_ROOT / "bench" / "data" / "retrieval_eval.json"
RESULTS_FILE = REPO_ROOT / "bench" / "results" / "retrieval_eval.json"
HYBRID_RESULTS_FILE = REPO_ROOT / "bench" / "results" / "retrieval_eval_hybrid.json"
DEFAULT_MYFIXIT = REPO_ROOT.parent / "shared" / "data" / "myfixit"
_REPEATS = 5
_GENERIC_ANCESTORS = {"root", "appliance", "media player", "computer hardware"}
# MRR counts the first right guide within this many results; a guide found deeper scores 0.
RANK_DEPTH = 10
# Reciprocal rank fusion: the usual constant, and how deep each fused list is read.
RRF_K = 60
FUSION_DEPTH = 50
TUNING_SETS = ("seed", "myfixit", "myfixit_ja")
HELD_OUT_SETS = ("holdout", "holdout_myfixit")
SEED_ONLY = "seed only"
WITH_MYFIXIT = "seed + MyFixit"

Ranker = Callable[[str], Sequence[str]]
"""Source ids of the guides that answer a question, best first."""


@dataclass(frozen=True)
class Corpus:
    """The guides one benchmark run searches, and their lexical index."""

    name: str
    docs: list[GuideDoc]
    index: GuideIndex
    build_ms: float


RankerFactory = Callable[[Corpus], Ranker]


def myfixit_docs(folder: Path, first_id: int) -> Iterator[GuideDoc]:
    """GuideDocs of every MyFixit manual, mapped the way the importer maps them."""
    next_id = first_id
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if not line.strip():
                    continue
                manual = json.loads(line)
                ancestors = [a for a in manual.get("Ancestors") or [] if a]
                category = next(
                    (a for a in ancestors if a.lower() not in _GENERIC_ANCESTORS),
                    ancestors[0] if ancestors else None,
                )
                steps = tuple(
                    ("", step.get("Text_raw") or " ".join(x["Text"] for x in step.get("Lines", [])))
                    for step in sorted(manual.get("Steps") or [], key=lambda s: s.get("Order", 0))
                )
                yield GuideDoc(
                    id=next_id,
                    source_id=str(manual["Guidid"]),
                    title=manual["Title"],
                    summary="",
                    language="en",
                    device_name=manual.get("Category") or category or "",
                    device_category=category,
                    device_brand=None,
                    device_aliases=(),
                    difficulty=None,
                    time_minutes=None,
                    tools=tuple(t["Name"] for t in manual.get("Toolbox") or [] if t.get("Name")),
                    parts=(manual["Subject"],) if manual.get("Subject") else (),
                    safety_warnings=(),
                    keywords=(),
                    steps=steps,
                    source_url=manual.get("Url"),
                )
                next_id += 1


def bm25_ranker(corpus: Corpus, *, depth: int = FUSION_DEPTH) -> Ranker:
    """The current lexical ranking: `GuideIndex.search`, read `depth` deep."""

    def rank(question: str) -> list[str]:
        hits = corpus.index.search(question, limit=depth, snippets=False)
        return [hit.guide.source_id or "" for hit in hits]

    return rank


def fuse_rrf(rankers: Sequence[Ranker], *, k: int = RRF_K, depth: int = FUSION_DEPTH) -> Ranker:
    """Reciprocal rank fusion: each list adds 1 / (k + rank) to the guides it ranks."""

    def rank(question: str) -> list[str]:
        scores: dict[str, float] = {}
        for ranker in rankers:
            for position, source_id in enumerate(ranker(question)[:depth], start=1):
                scores[source_id] = scores.get(source_id, 0.0) + 1.0 / (k + position)
        # Ties keep the order in which the lists first named the guides (dicts keep order).
        return sorted(scores, key=lambda source_id: -scores[source_id])

    return rank


def ranking_modes(dense: RankerFactory | None = None) -> dict[str, RankerFactory]:
    """The modes that can run: always `bm25`; `dense` and `fused` when a dense ranker is given."""
    modes: dict[str, RankerFactory] = {"bm25": bm25_ranker}
    if dense is not None:
        modes["dense"] = dense
        modes["fused"] = lambda corpus: fuse_rrf([bm25_ranker(corpus), dense(corpus)])
    return modes


def evaluate(
    ranker: Ranker,
    questions: Sequence[dict[str, Any]],
    *,
    repeats: int = _REPEATS,
    show_misses: bool = False,
) -> dict[str, Any]:
    """Top-1, top-3 and MRR per language and overall, and per-question latency in milliseconds."""
    per_language: dict[str, dict[str, float]] = {}
    latencies: list[float] = []
    ranks: list[int] = []
    for item in questions:
        # Best of a few runs per question: the machine is shared, and the first run also warms
        # caches, so the minimum is the steadiest figure.
        runs = []
        found: Sequence[str] = ()
        for _ in range(max(repeats, 1)):
            start = time.perf_counter()
            found = ranker(item["question"])
            runs.append((time.perf_counter() - start) * 1000)
        latencies.append(min(runs))
        found = list(found[:RANK_DEPTH])
        expected = set(item["expected"])
        first_right = next((i for i, sid in enumerate(found, start=1) if sid in expected), None)
        ranks.append(first_right or 0)
        stats = per_language.setdefault(
            item["language"], {"n": 0, "top1": 0, "top3": 0, "reciprocal": 0.0}
        )
        stats["n"] += 1
        stats["top1"] += first_right == 1
        stats["top3"] += first_right is not None and first_right <= 3
        stats["reciprocal"] += 1.0 / first_right if first_right else 0.0
        if show_misses and first_right != 1:
            print(
                f"  miss [{item['language']}] {item['question']!r}: got {found[:3]}, "
                f"want {sorted(expected)} (rank {first_right or f'>{RANK_DEPTH}'})",
                file=sys.stderr,
            )
    keys = ("n", "top1", "top3", "reciprocal")
    total = {key: sum(stats[key] for stats in per_language.values()) for key in keys}
    result: dict[str, Any] = {}
    for name, stats in [*sorted(per_language.items()), ("all", total)]:
        n = int(stats["n"])
        result[name] = {
            "questions": n,
            "top1": round(stats["top1"] / n, 3) if n else None,
            "top3": round(stats["top3"] / n, 3) if n else None,
            "mrr": round(stats["reciprocal"] / n, 3) if n else None,
        }
    # Rank of the first right guide per question, in the set's order (0: not in the top 10), so
    # two modes can be compared question by question.
    result["ranks"] = ranks
    latencies.sort()
    result["latency_ms"] = (
        {
            "p50": round(statistics.median(latencies), 3),
            "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
            "max": round(latencies[-1], 3),
        }
        if latencies
        else None
    )
    return result


def build_corpus(name: str, docs: Iterable[GuideDoc]) -> Corpus:
    guides = list(docs)
    start = time.perf_counter()
    index = GuideIndex.build(guides)
    return Corpus(name, guides, index, (time.perf_counter() - start) * 1000)


def load_corpora(myfixit_dir: Path) -> list[Corpus]:
    """The seed guides alone and, when the MyFixit folder exists, with every MyFixit guide."""
    seed_docs = docs_from_guide_file(json.loads(SEED_FILE.read_text(encoding="utf-8")))
    corpora = [build_corpus(SEED_ONLY, seed_docs)]
    if myfixit_dir.is_dir():
        extra = myfixit_docs(myfixit_dir, first_id=len(seed_docs) + 1)
        corpora.append(build_corpus(WITH_MYFIXIT, [*seed_docs, *extra]))
    else:
        print(f"MyFixit corpus not found at {myfixit_dir}: seed-only run", file=sys.stderr)
    return corpora


def sets_for(corpus: Corpus, evaluation: dict[str, Any]) -> list[str]:
    """The question sets whose guides the corpus holds: MyFixit sets need the MyFixit guides."""
    names = ["seed", "holdout"] if corpus.name == SEED_ONLY else [*TUNING_SETS, *HELD_OUT_SETS]
    return [name for name in names if evaluation.get(name)]


def run(
    corpora: Sequence[Corpus],
    evaluation: dict[str, Any],
    modes: dict[str, RankerFactory],
    *,
    repeats: int = _REPEATS,
    show_misses: bool = False,
) -> dict[str, Any]:
    """Scores of every mode on every question set of every corpus: results[mode][corpus][set]."""
    results: dict[str, Any] = {}
    for mode, factory in modes.items():
        for corpus in corpora:
            ranker = factory(corpus)
            for set_name in sets_for(corpus, evaluation):
                if show_misses:
                    print(f"{mode} / {corpus.name} / {set_name}:", file=sys.stderr)
                scores = evaluate(
                    ranker, evaluation[set_name], repeats=repeats, show_misses=show_misses
                )
                scores["held_out"] = set_name in HELD_OUT_SETS
                results.setdefault(mode, {}).setdefault(corpus.name, {})[set_name] = scores
    return {
        "metrics": {
            "top1": "share of questions whose first result is a right guide",
            "top3": "share of questions with a right guide in the first three results",
            "mrr": f"mean of 1/rank of the first right guide, 0 beyond rank {RANK_DEPTH}",
            "ranks": f"per question, rank of the first right guide (0: beyond {RANK_DEPTH})",
            "latency_ms": "best of a few runs of one ranking call per question",
        },
        "corpora": {
            c.name: {"guides": len(c.docs), "build_ms": round(c.build_ms, 1)} for c in corpora
        },
        "results": results,
    }


def print_table(report: dict[str, Any]) -> None:
    """One table for the tuning sets, one for the held-out sets."""
    sizes = ", ".join(f"{name}: {c['guides']} guides" for name, c in report["corpora"].items())
    print(f"corpora: {sizes}")
    header = ("mode", "corpus", "set", "lang", "n", "top-1", "top-3", "MRR", "p50 ms", "p95 ms")
    widths = (6, 15, 16, 4, 4, 6, 6, 6, 8, 8)
    for held_out, title in ((False, "tuning sets"), (True, "held-out sets (never tuned on)")):
        rows = []
        for mode, by_corpus in report["results"].items():
            for corpus, by_set in by_corpus.items():
                for set_name, scores in by_set.items():
                    if scores["held_out"] != held_out:
                        continue
                    latency = scores["latency_ms"] or {}
                    for language in ("en", "ja", "all"):
                        if language not in scores:
                            continue
                        stats = scores[language]
                        rows.append(
                            (mode, corpus, set_name, language, stats["questions"], stats["top1"],
                             stats["top3"], stats["mrr"], latency.get("p50"), latency.get("p95"))
                        )  # fmt: skip
        print(f"\n{title}")
        print(" | ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
        for row in rows:
            print(" | ".join(f"{v!s:>{w}}" for v, w in zip(row, widths, strict=True)))


def add_embeddings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--embeddings-url", default="", help="an OpenAI-compatible /v1 URL")
    parser.add_argument("--embeddings-model", default="e5-query", help="the query model name")
    parser.add_argument("--passage-model", default="e5-passage", help="the passage model name")
    parser.add_argument("--input-type", action="store_true", help="send input_type too")
    parser.add_argument("--vectors-cache", type=Path, help="keep passage vectors in this .npz")
    parser.add_argument(
        "--tune", action="store_true", help="choose the dense weights on the tuning sets"
    )


def dense_modes(
    args: argparse.Namespace, corpora: Sequence[Corpus], evaluation: dict[str, Any]
) -> tuple[dict[str, RankerFactory], dict[str, Any] | None]:
    """The ranking modes; with --embeddings-url, dense and fused on the app's code."""
    if not args.embeddings_url:
        return ranking_modes(), None
    from hybrid_rankers import (
        GuideVectors,
        client_for,
        dense_ranker_factory,
        hybrid_ranker_factory,
        tune_weights,
    )

    client = client_for(
        args.embeddings_url, args.embeddings_model, args.passage_model, input_type=args.input_type
    )
    vectors = GuideVectors(client, corpora[-1].docs, cache=args.vectors_cache)
    modes = ranking_modes(dense_ranker_factory(vectors))
    modes["fused"] = hybrid_ranker_factory(vectors)
    tuning = tune_weights(vectors, corpora, evaluation) if args.tune else None
    if tuning is not None:
        print(f"tuned fusion (method dense-weight): {tuning['chosen']}", file=sys.stderr)
    return modes, tuning


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--myfixit-dir", type=Path, default=DEFAULT_MYFIXIT)
    parser.add_argument(
        "--mode",
        nargs="+",
        default=["bm25"],
        choices=["bm25", "dense", "fused"],
        help="ranking modes to score (dense and fused need a dense ranker, see ranking_modes)",
    )
    parser.add_argument("--show-misses", action="store_true", help="print every top-1 miss")
    add_embeddings_arguments(parser)
    args = parser.parse_args(argv)

    evaluation = json.loads(EVAL_FILE.read_text(encoding="utf-8"))
    corpora = load_corpora(args.myfixit_dir)
    available, tuning = dense_modes(args, corpora, evaluation)
    missing = [mode for mode in args.mode if mode not in available]
    if missing:
        parser.error(f"no dense ranker is configured, so {', '.join(missing)} cannot run")
    report = run(
        corpora,
        evaluation,
        {mode: available[mode] for mode in args.mode},
        # A dense ranking call is a network round trip the first time: one run per question.
        repeats=1 if args.embeddings_url else _REPEATS,
        show_misses=args.show_misses,
    )
    if tuning is not None:
        report["tuning"] = tuning
    print_table(report)
    results_file = HYBRID_RESULTS_FILE if args.embeddings_url else RESULTS_FILE
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {results_file.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
