"""Runs the operator: logging, the metrics endpoint, then kopf until a signal stops it."""

from __future__ import annotations

import logging
import os

import kopf

from repairgpt_operator import __version__, kube, metrics
from repairgpt_operator.instance.resync import RESYNC_INTERVAL_SECONDS
from repairgpt_operator.leadership import LeaderElector, default_identity
from repairgpt_operator.ownership import FIELD_MANAGER

log = logging.getLogger("repairgpt_operator")
# Exit status of a replica that lost its lease: it stops at once (threads included) so that it can
# never act beside the new holder; Kubernetes restarts it as a standby.
LOST_LEASE_EXIT_CODE = 3


def _exit_at_once(reason: str) -> None:
    log.info("exiting: the lease is lost (%s) and another replica may act now", reason)
    logging.shutdown()
    os._exit(LOST_LEASE_EXIT_CODE)


def kopf_settings(namespaces: list[str] | None) -> kopf.OperatorSettings:
    """kopf's settings for watching all namespaces (None) or only the named ones.

    Watching named namespaces turns kopf's cluster scanning off: otherwise kopf lists and
    watches every Namespace (to match the names) and every CRD, which needs a ClusterRole. The
    operator's own resources are found through API discovery, which every account may read.
    """
    settings = kopf.OperatorSettings()
    settings.scanning.disabled = namespaces is not None
    return settings


def run_operator(
    *,
    namespaces: list[str] | None,
    metrics_host: str,
    metrics_port: int,
    verbose: bool,
    lease: tuple[str, str] | None = None,
) -> int:
    """Run the operator against the current kubeconfig (or in-cluster config) until stopped.

    namespaces=None watches all namespaces (cluster-wide); otherwise only those listed. With a
    lease (namespace, name), kopf and the background loops start only once it is held.
    """
    # One JSON object per line, as the API writes (fields: docs/LOGGING.md).
    kopf.configure(verbose=verbose, debug=False, log_format=kopf.LogFormat.JSON)
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        # kopf reports every successful handler call at INFO; the operator logs what it changed.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    # Importing the module registers the handlers with kopf's default registry.
    from repairgpt_operator import handlers  # noqa: F401

    gateway = kube.shared()
    server = metrics.serve(metrics_host, metrics_port)
    log.info(
        "repairgpt-operator %s starting: api-server=%s namespaces=%s metrics=http://%s:%d/metrics "
        "healthz=/healthz field-manager=%s resync=%ss",
        __version__,
        gateway.server,
        ",".join(namespaces) if namespaces else "<all>",
        metrics_host,
        server.server_address[1],
        FIELD_MANAGER,
        RESYNC_INTERVAL_SECONDS,
    )
    elector = None
    if lease is None:
        metrics.LEADER.set(1)
    else:
        elector = LeaderElector(
            kube.shared, namespace=lease[0], name=lease[1], identity=default_identity()
        )
        elector.wait_until_leading(on_tick=metrics.heartbeat)
        elector.start_renewing(on_lost=_exit_at_once)
    settings = kopf_settings(namespaces)
    try:
        kopf.run(
            clusterwide=namespaces is None,
            namespaces=namespaces or (),
            standalone=True,
            settings=settings,
        )
    finally:
        # Handlers still running finish before the lease goes to another replica.
        settings.execution.executor.shutdown(wait=True)
        if elector is not None:
            elector.release()
        server.shutdown()
    return 0
