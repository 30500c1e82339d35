"""Benchmark: what kopf's change detection costs the operator at each event of a watched object.

    python bench/kopf_event_cost.py [--events 2000]

At every event of every kind it watches, kopf fetches the object's last handled essence, builds
the new one, strips its own annotations from both (the progress storage's `clear`) and diffs the
two, even for kinds that have no change handler. The operator's children and API pods are such
kinds: one instance brings dozens of their events. In process, this times those steps:
* for an API Deployment and an API pod as the operator builds them, with the essence store and
  the progress storage the operator uses (only the instances' essences built) against kopf's
  own, which build every kind's;
* for an instance (examples/production.yaml) that kopf has handled before, with the operator's
  progress storage (which copies an essence only when it has something to take out) against
  kopf's own.
Writes bench/results/kopf_event_cost.json.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import Any

import kopf
import yaml
from harness import save_results
from kopf._cogs.structs import diffs

from repairgpt_operator.diffbase import LeanProgressStorage, MemoryDiffBase
from repairgpt_operator.handlers import KOPF_STATE_PREFIX
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec import API_VERSION, KIND
from repairgpt_operator.resources import desired_children
from repairgpt_operator.runtime import Runtime

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS = REPO_ROOT / "bench" / "results" / "kopf_event_cost.json"


def watched_bodies() -> dict[str, dict[str, Any]]:
    """An API Deployment and one of its pods, as the watches deliver them."""
    instance = Instance.from_body(
        {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": "r", "namespace": "n", "uid": "u", "generation": 1},
            "spec": {
                "image": "app:1",
                "replicas": 2,
                "database": {"primary": {"secretName": "db"}},
            },
        }
    )
    deployment = copy.deepcopy(
        next(child for child in desired_children(instance) if child["kind"] == "Deployment")
    )
    deployment["metadata"] |= {"uid": "d", "managedFields": [{"manager": "repairgpt-operator"}]}
    deployment["status"] = {"replicas": 2, "unavailableReplicas": 2}
    template = deployment["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "r-api-x", "uid": "p", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
        "status": {"phase": "Pending"},
    }
    return {"Deployment": deployment, "Pod": pod}


def production_instance() -> dict[str, Any]:
    """The instance of examples/production.yaml, as the watch delivers it."""
    documents = yaml.safe_load_all((REPO_ROOT / "examples" / "production.yaml").read_text())
    instance: dict[str, Any] = next(doc for doc in documents if doc and doc.get("kind") == KIND)
    instance["metadata"] |= {"namespace": "n", "uid": "i", "generation": 1}
    instance["status"] = {"observedGeneration": 1, "phase": "Running"}
    return instance


def per_event_ms(
    store: MemoryDiffBase, progress: kopf.ProgressStorage, body: kopf.Body, events: int
) -> float:
    """kopf's steps at each event of `body` (processing.py, `_detect_causes`)."""
    started = time.perf_counter()
    for _ in range(events):
        old = store.fetch(body=body)
        new = store.build(body=body)
        old = progress.clear(essence=old) if old is not None else None
        new = progress.clear(essence=new)
        diffs.diff(old, new)
    return (time.perf_counter() - started) / events * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    kopfs = kopf.AnnotationsProgressStorage(prefix=KOPF_STATE_PREFIX)
    lean = LeanProgressStorage(prefix=KOPF_STATE_PREFIX)
    cases: list[tuple[str, str, MemoryDiffBase, str, kopf.ProgressStorage, dict[str, Any]]] = []
    for kind, body in watched_bodies().items():
        cases.append((kind, "operator", Runtime().diffbase, "operator's", lean, body))
        cases.append((kind, "every kind", MemoryDiffBase(), "kopf's", kopfs, body))
    instance = production_instance()
    for name, progress in (("operator's", lean), ("kopf's", kopfs)):
        store = Runtime().diffbase
        # kopf keeps an instance's essence once a change handler has handled it.
        handled = kopf.Body(instance)
        store.store(body=handled, patch=kopf.Patch(), essence=store.build(body=handled))
        cases.append((KIND, "operator", store, name, progress, instance))
    rows = []
    print(f"{'object':<20}{'essence store':<16}{'progress storage':<18}{'ms per event':>14}")
    for kind, store_name, store, progress_name, progress, body in cases:
        ms = per_event_ms(store, progress, kopf.Body(body), args.events)
        rows.append(
            {
                "object": kind,
                "store": store_name,
                "progress_storage": progress_name,
                "ms_per_event": round(ms, 4),
            }
        )
        print(f"{kind:<20}{store_name:<16}{progress_name:<18}{ms:>14.4f}")
    save_results(RESULTS, {"benchmark": "kopf_event_cost", "events": args.events, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
