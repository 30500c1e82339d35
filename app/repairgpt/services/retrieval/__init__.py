"""In-process search over repair guides for English and Japanese questions."""

from repairgpt.services.retrieval.analysis import (
    analyse,
    detect_language,
    normalise,
    query_terms,
    stem,
)
from repairgpt.services.retrieval.bm25f import FIELD_WEIGHTS
from repairgpt.services.retrieval.documents import (
    Filters,
    GuideDoc,
    SearchHit,
    docs_from_guide_file,
)
from repairgpt.services.retrieval.index import GuideIndex

__all__ = [
    "FIELD_WEIGHTS",
    "Filters",
    "GuideDoc",
    "GuideIndex",
    "SearchHit",
    "analyse",
    "detect_language",
    "docs_from_guide_file",
    "normalise",
    "query_terms",
    "stem",
]
