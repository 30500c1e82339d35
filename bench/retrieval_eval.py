"""Retrieval quality benchmark: top-1 / top-3 hit rates per language and search latency.

Builds the in-process index from the seed guides ("seed only") and, when the MyFixit corpus is
present, from the seed guides plus every MyFixit guide as distractors ("seed + MyFixit"). Prints
a table and writes bench/results/retrieval_eval.json.

    python bench/retrieval_eval.py [--myfixit-dir ../shared/data/myfixit] [--show-misses]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from repairgpt.services.retrieval import GuideDoc, GuideIndex, docs_from_guide_file

REPO_ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = REPO_ROOT / "app" / "repairgpt" / "data" / "seed_guides.json"
EVAL_FILE = REPO_ROOT / "bench" / "data" / "retrieval_eval.json"
RESULTS_FILE = REPO_ROOT / "bench" / "results" / "retrieval_eval.json"
DEFAULT_MYFIXIT = REPO_ROOT.parent / "shared" / "data" / "myfixit"
_REPEATS = 5
_GENERIC_ANCESTORS = {"root", "appliance", "media player", "computer hardware"}


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


def evaluate(
    index: GuideIndex, questions: Sequence[dict[str, Any]], *, show_misses: bool
) -> dict[str, Any]:
    """Hit rates per language and overall, and per-query latency in milliseconds."""
    per_language: dict[str, dict[str, int]] = {}
    latencies: list[float] = []
    for item in questions:
        hits = index.search(item["question"], limit=3)
        # Best of a few runs per question: the machine is shared, and the first run also
        # fills the per-guide sentence cache used by snippets.
        runs = []
        for _ in range(_REPEATS):
            start = time.perf_counter()
            index.search(item["question"], limit=3)
            runs.append((time.perf_counter() - start) * 1000)
        latencies.append(min(runs))
        found = [hit.guide.source_id for hit in hits]
        expected = set(item["expected"])
        stats = per_language.setdefault(item["language"], {"n": 0, "top1": 0, "top3": 0})
        stats["n"] += 1
        stats["top1"] += bool(found[:1] and found[0] in expected)
        stats["top3"] += bool(expected.intersection(found))
        if show_misses and not (found[:1] and found[0] in expected):
            print(
                f"  miss [{item['language']}] {item['question']!r}: got {found}, "
                f"want {sorted(expected)}",
                file=sys.stderr,
            )
    total = {
        key: sum(stats[key] for stats in per_language.values()) for key in ("n", "top1", "top3")
    }
    result: dict[str, Any] = {}
    for name, stats in [*sorted(per_language.items()), ("all", total)]:
        result[name] = {
            "questions": stats["n"],
            "top1": round(stats["top1"] / stats["n"], 3) if stats["n"] else None,
            "top3": round(stats["top3"] / stats["n"], 3) if stats["n"] else None,
        }
    latencies.sort()
    result["latency_ms"] = {
        "p50": round(statistics.median(latencies), 3),
        "p95": round(latencies[int(0.95 * (len(latencies) - 1))], 3),
        "max": round(latencies[-1], 3),
    }
    return result


def timed_build(docs: Iterable[GuideDoc]) -> tuple[GuideIndex, float]:
    start = time.perf_counter()
    index = GuideIndex.build(docs)
    return index, (time.perf_counter() - start) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--myfixit-dir", type=Path, default=DEFAULT_MYFIXIT)
    parser.add_argument("--show-misses", action="store_true", help="print every top-1 miss")
    args = parser.parse_args(argv)

    seed_docs = docs_from_guide_file(json.loads(SEED_FILE.read_text(encoding="utf-8")))
    evaluation = json.loads(EVAL_FILE.read_text(encoding="utf-8"))
    holdout = evaluation.get("holdout", [])
    corpora: list[tuple[str, list[GuideDoc], list[dict[str, Any]]]] = [
        ("seed only", seed_docs, evaluation["seed"])
    ]
    if args.myfixit_dir.is_dir():
        extra = list(myfixit_docs(args.myfixit_dir, first_id=len(seed_docs) + 1))
        corpora.append(
            ("seed + MyFixit", seed_docs + extra, evaluation["seed"] + evaluation["myfixit"])
        )
        if holdout:
            corpora.append(("holdout (+MyFixit)", seed_docs + extra, holdout))
    else:
        if holdout:
            corpora.append(("holdout", seed_docs, holdout))
        print(f"MyFixit corpus not found at {args.myfixit_dir}: seed-only run", file=sys.stderr)

    report: dict[str, Any] = {"corpora": {}}
    rows = []
    for name, docs, questions in corpora:
        index, build_ms = timed_build(docs)
        if args.show_misses:
            print(f"{name}:", file=sys.stderr)
        result = evaluate(index, questions, show_misses=args.show_misses)
        result["guides"] = len(index)
        result["build_ms"] = round(build_ms, 1)
        report["corpora"][name] = result
        for language in ("en", "ja", "all"):
            if language in result:
                stats = result[language]
                rows.append(
                    (
                        name,
                        len(index),
                        language,
                        stats["questions"],
                        stats["top1"],
                        stats["top3"],
                        result["latency_ms"]["p50"],
                        result["latency_ms"]["p95"],
                    )
                )

    header = ("corpus", "guides", "lang", "questions", "top-1", "top-3", "p50 ms", "p95 ms")
    print(" | ".join(f"{h:>18}" if i == 0 else f"{h:>9}" for i, h in enumerate(header)))
    for row in rows:
        print(" | ".join(f"{v!s:>18}" if i == 0 else f"{v!s:>9}" for i, v in enumerate(row)))
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS_FILE.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
