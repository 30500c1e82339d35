"""Benchmark: what kopf's change detection costs the operator at each event of a watched object.

    python bench/kopf_event_cost.py [--events 2000]

At every event of every kind it watches, kopf fetches the object's last handled essence, builds
the new one, strips its own annotations from it and diffs the two, even for kinds that have no
change handler. The operator's children and API pods are such kinds: one instance brings
dozens of their events. In process, with the operator's kopf settings, this times those steps
for an API Deployment and an API pod as the operator builds them, with the essence store the
operator uses (only the instances' essences built) against one that builds every kind's.
Writes bench/results/kopf_event_cost.json.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path
from typing import Any

import kopf
from harness import save_results
from kopf._cogs.structs import diffs

from repairgpt_operator.diffbase import MemoryDiffBase
from repairgpt_operator.handlers import tune
from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec import API_VERSION, KIND
from repairgpt_operator.resources import desired_children
from repairgpt_operator.runtime import Runtime

RESULTS = Path(__file__).resolve().parent / "results" / "kopf_event_cost.json"


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


def per_event_ms(store: MemoryDiffBase, body: kopf.Body, events: int) -> float:
    settings = kopf.OperatorSettings()
    tune(settings, store)
    started = time.perf_counter()
    for _ in range(events):
        old = store.fetch(body=body)
        new = settings.persistence.progress_storage.clear(essence=store.build(body=body))
        diffs.diff(old, new)
    return (time.perf_counter() - started) / events * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    stores = {"operator": Runtime().diffbase, "every kind": MemoryDiffBase()}
    rows = []
    print(f"{'object':<12}{'essence store':<16}{'ms per event':>14}")
    for kind, body in watched_bodies().items():
        for name, store in stores.items():
            ms = per_event_ms(store, kopf.Body(body), args.events)
            rows.append({"object": kind, "store": name, "ms_per_event": round(ms, 4)})
            print(f"{kind:<12}{name:<16}{ms:>14.4f}")
    save_results(RESULTS, {"benchmark": "kopf_event_cost", "events": args.events, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
