"""Chat retention on the real node: a Job made from the operator's CronJob (as `kubectl create job
--from` makes it) prunes the history in a real PostgreSQL, and its result lands in the status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from repairgpt.core.config import normalize_database_url
from repairgpt.core.db import create_db_engine, migrate
from repairgpt.models import ChatMessage, ChatSession
from tests.conftest import KubeCluster
from tests.utils.chat_history import HistoryShape, seed_chat_history
from tests.utils.instances import instance_documents, instance_status
from tests.utils.node import apply, get, image, wait_for
from tests.utils.servers import PostgresServer

SHAPE = HistoryShape(
    old=60, mixed=40, recent=20, empty_old=10, empty_recent=5, messages_per_session=10
)
JOB_SECONDS = 240


def test_a_job_from_the_retention_cronjob_prunes_and_reports_in_the_status(
    node_cluster: KubeCluster,
    node_namespace: str,
    operator_pod: str,
    pod_postgres: PostgresServer,
    pod_database: str,
) -> None:
    cluster, namespace, name = node_cluster, node_namespace, "chats"
    local_url = normalize_database_url(pod_postgres.url_for(pod_database.rsplit("/", 1)[1]))
    engine = create_db_engine(local_url)
    migrate(engine)
    seed_chat_history(engine, SHAPE)
    apply(
        cluster,
        namespace,
        instance_documents(
            name,
            image=image(cluster, "repairgpt-app"),
            database_url=pod_database,
            replicas=0,
            autoscaling={"enabled": False},
            retention={"chatHistoryDays": 365, "batchSize": 100},
        ),
    )
    cronjob = wait_for(
        lambda: get(cluster, namespace, "cronjob", f"{name}-retention"),
        timeout=60,
        what="the retention CronJob",
    )
    assert cronjob["spec"]["schedule"] == "15 4 * * *"
    job = f"{name}-retention-now"
    cluster.kubectl("-n", namespace, "create", "job", job, f"--from=cronjob/{name}-retention")
    cluster.kubectl(
        "-n", namespace, "wait", f"job/{job}", "--for=condition=Complete",
        f"--timeout={JOB_SECONDS}s", timeout=JOB_SECONDS + 30,
    )  # fmt: skip
    retention = wait_for(
        lambda: instance_status(cluster, namespace, name).get("retention"),
        timeout=60,
        what="status.retention",
    )
    print(f"status.retention: {retention}")
    assert retention["outcome"] == "Succeeded"
    assert retention["messagesDeleted"] == SHAPE.old_messages
    assert retention["sessionsDeleted"] == SHAPE.old_sessions
    assert retention["rowsDeleted"] == SHAPE.old_messages + SHAPE.old_sessions
    assert retention["batches"] > SHAPE.total_messages // 100
    assert retention["maxBatchSeconds"] < 1
    finished = datetime.strptime(retention["lastRunTime"], "%Y-%m-%dT%H:%M:%SZ")
    assert abs(datetime.now(UTC) - finished.replace(tzinfo=UTC)) < timedelta(minutes=10)
    with engine.connect() as connection:
        messages = connection.execute(select(func.count()).select_from(ChatMessage)).scalar()
        sessions = connection.execute(select(func.count()).select_from(ChatSession)).scalar()
    assert messages == SHAPE.total_messages - SHAPE.old_messages
    assert sessions == SHAPE.total_sessions - SHAPE.old_sessions
    engine.dispose()
