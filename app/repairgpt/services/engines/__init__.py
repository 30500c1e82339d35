"""Answer engines: turn a question and the guides retrieval found for it into a cited answer."""

from repairgpt.services.engines.base import Answer, AnswerEngine, Citation
from repairgpt.services.engines.factory import select_answer_engine

__all__ = ["Answer", "AnswerEngine", "Citation", "select_answer_engine"]
