"""What kopf compares a changed instance against, kept in the operator's memory.

kopf tells a creation from an update (and an update from a no-op) by comparing each object with
the essence it last handled: spec, labels and annotations. By default it stores that essence in an
annotation of the object, which costs one PATCH of every instance after every handling, and one
more watch event to process. Here it stays in memory, keyed by uid. After a restart (or a change of
leader) the memory is empty and kopf meets every instance as a creation; `handled_trigger` turns
that back into a resume for an instance that the operator has reconciled before.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Mapping
from typing import Any, cast

import kopf


class MemoryDiffBase(kopf.DiffBaseStorage):
    """The last handled essence of each object, by uid; nothing is written to the object.

    kopf builds an essence at every event of every kind it watches, but compares essences only
    for kinds that have change handlers. `compared` names those kinds as (apiVersion, kind);
    an object of another kind (a child, a pod, a Job) gets an empty essence instead of a copy
    of its spec, and kopf's diff of it is empty too. None: every kind gets its essence.
    """

    def __init__(self, compared: Collection[tuple[str, str]] | None = None) -> None:
        super().__init__()
        self._compared = None if compared is None else frozenset(compared)
        self._essences: dict[str, kopf.BodyEssence] = {}
        self._lock = threading.Lock()

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
    ) -> kopf.BodyEssence:
        """kopf's essence of `body`, built from only what it keeps: kopf's own build deep-copies
        the whole body, status and managedFields included, and then drops all but the spec,
        labels and annotations."""
        if extra_fields:
            return super().build(body=body, extra_fields=extra_fields)
        kind = body.get("kind")
        if (
            self._compared is not None
            and kind
            and (body.get("apiVersion"), kind) not in self._compared
        ):
            return cast(kopf.BodyEssence, {})
        metadata = body.get("metadata") or {}
        kept = {key: value for key, value in body.items() if key not in ("metadata", "status")}
        kept["metadata"] = {
            key: metadata[key] for key in ("labels", "annotations") if key in metadata
        }
        return super().build(body=cast(kopf.Body, kept))

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        with self._lock:
            return self._essences.get(str(body.metadata.uid))

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        with self._lock:
            self._essences[str(body.metadata.uid)] = essence

    def forget(self, uid: str) -> None:
        """Drop a deleted object's essence."""
        with self._lock:
            self._essences.pop(uid, None)


class LeanProgressStorage(kopf.AnnotationsProgressStorage):
    """kopf's retry state in annotations under `prefix`; its `clear` copies an essence only when
    there is something to take out of it.

    kopf clears both essences it compares at every event of an object: the one it last handled
    (from `MemoryDiffBase`) and the one it has just built, a fresh copy already. kopf's own
    `clear` deep-copies each once more, even when neither holds a retry annotation, which is
    nearly always. The essences are only read afterwards (diffed, handed to handlers as `old` and
    `new`, kept as the last handled one), so returning one unchanged shares nothing that is
    written to.
    """

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        return essence if self._clean(essence) else super().clear(essence=essence)

    def _clean(self, essence: Mapping[str, Any]) -> bool:
        """Whether kopf's `clear` would leave `essence` as it is: no retry annotation to take
        out, no empty stanza to drop."""
        metadata = essence.get("metadata")
        annotations = (metadata or {}).get("annotations") or {}
        if any(key.startswith(f"{self.prefix}/") for key in annotations):
            return False
        stanzas = [essence.get("status"), metadata]
        stanzas += [(metadata or {}).get(key) for key in ("annotations", "labels")]
        return all(stanza != {} for stanza in stanzas)


def handled_trigger(reason: str, body: Mapping[str, Any]) -> str:
    """kopf's reason as the reconciliation's trigger: a "creation" of an instance that already has
    an observed generation is the first sight of it since the operator started, i.e. a resume."""
    observed = (body.get("status") or {}).get("observedGeneration")
    if reason == "create" and observed is not None:
        return "resume"
    return reason
