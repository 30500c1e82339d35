"""System tests on the local cluster's real node: the operator and the API run as pods from the
images built from this repository's Dockerfiles; nothing sets a pod's or Job's status by hand.

The databases, Redis and S3 are real servers on this machine, listening on the host end of the
node's link, which is the one address outside the pod network that pods may reach. Fixtures are
in tests/conftest.py, helpers in tests/utils/node.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    """Every test here runs real pods: mark them so that `-m node` selects them."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.node)
            item.add_marker(pytest.mark.slow)
