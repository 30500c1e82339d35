"""Restart on request, without I/O: `kubectl annotate rgi NAME repairgpt.io/restart=<token>`
rolls the API pods once per token.

The token goes into the pod template (annotation `repairgpt.io/restart`), so the Deployment
controller rolls the pods as for any template change, and `status.restart` echoes it. The
template keeps the newest token the status recorded, so removing the annotation rolls nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from repairgpt_operator.annotations import annotation

RESTART_ANNOTATION = "repairgpt.io/restart"


def requested_token(body: Mapping[str, Any]) -> str | None:
    """The restart token annotated on the instance, if any."""
    return annotation(body, RESTART_ANNOTATION)


def recorded_token(status: Mapping[str, Any]) -> str | None:
    """The token of the newest restart the operator acted on."""
    token = (status.get("restart") or {}).get("token")
    return str(token) if token else None


def template_token(body: Mapping[str, Any]) -> str | None:
    """The token the pod template carries: the annotated one, else the recorded one."""
    return requested_token(body) or recorded_token(body.get("status") or {})


def next_restart(
    previous: Mapping[str, Any],
    requested: str | None,
    *,
    rolled_out_token: str | None,
    now: str,
) -> dict[str, Any]:
    """status.restart: a new token is recorded with the time it was asked for; `rolledOutTime`
    once every pod of the template carrying it is ready (`rolled_out_token`)."""
    restart = dict(previous)
    if requested and requested != restart.get("token"):
        restart = {"token": requested, "requestedTime": now}
    if restart.get("token") and restart.get("token") == rolled_out_token:
        restart.setdefault("rolledOutTime", now)
    return restart
