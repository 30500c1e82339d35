"""Probes a PostgreSQL database named by a Secret with `SELECT 1`, never quoting its URL back."""

from __future__ import annotations

import base64
import time
import urllib.parse

from repairgpt_operator.failover.decision import ProbeResult
from repairgpt_operator.instance.spec_fields import DatabaseSecretRef
from repairgpt_operator.kube import ApiError, Kube


def libpq_url(url: str) -> str:
    """A libpq URL from an SQLAlchemy-style one (`postgresql+psycopg://` -> `postgresql://`)."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.startswith("postgresql+"):
        return f"postgresql://{rest}"
    return url


def invalid_url_reason(url: str) -> str | None:
    """Why `url` is not a PostgreSQL URL the probe can use, in words that never quote it.

    A Secret value that is not a URL would otherwise reach libpq, whose error quotes it (e.g.
    `missing "=" after "sk-live-..."`), and from there the status, Events and logs.
    """
    text = url.strip()
    try:
        parts = urllib.parse.urlsplit(text)
        parts.port  # noqa: B018  (raises ValueError on a port that is not a number in range)
    except ValueError:
        return "its port is not a number from 1 to 65535"
    scheme = parts.scheme.lower().partition("+")[0]
    if scheme not in ("postgresql", "postgres") or not text.lower().startswith(
        f"{parts.scheme.lower()}://"
    ):
        return "it does not start with postgresql://"
    if not parts.hostname and "host=" not in parts.query:
        return "it names no host"
    return None


def scrub(message: str, url: str) -> str:
    """`message` with the URL and each of its secret parts (user info, password) replaced."""
    parts = urllib.parse.urlsplit(url.strip()) if "://" in url else None
    secrets = [url.strip(), url]
    if parts is not None:
        secrets += [parts.netloc.rpartition("@")[0], parts.password or "", parts.username or ""]
        secrets += [urllib.parse.unquote(parts.password or "")]
    for secret in sorted({s for s in secrets if len(s) >= 3}, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def probe_database(url: str, *, timeout: float = 2.0) -> ProbeResult:
    """`SELECT 1` on a fresh connection with a short connect timeout; never raises.

    The URL is checked first, so that libpq never quotes a malformed value back; the driver's
    error (which names host and port) is scrubbed of the URL and its secret parts all the same.
    """
    import psycopg

    reason = invalid_url_reason(url)
    if reason is not None:
        return ProbeResult(False, f"the database URL is not a valid PostgreSQL URL: {reason}")
    started = time.monotonic()
    try:
        with psycopg.connect(
            libpq_url(url),
            connect_timeout=max(1, round(timeout)),
            options=f"-c statement_timeout={int(timeout * 1000)}",
            autocommit=True,
        ) as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception as exc:  # any failure, of the network or of the server, is a failed probe
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return ProbeResult(False, scrub(message, url), time.monotonic() - started)
    return ProbeResult(True, "", time.monotonic() - started)


def read_secret_value(kube: Kube, namespace: str, ref: DatabaseSecretRef) -> str:
    """The decoded value of one Secret key; raises LookupError naming what is missing."""
    secret = kube.get("v1", "Secret", namespace, ref.secret_name)
    if secret is None:
        raise LookupError(f"Secret {ref.secret_name} not found")
    encoded = (secret.get("data") or {}).get(ref.key)
    if encoded is None:
        raise LookupError(f"Secret {ref.secret_name} has no key {ref.key}")
    return base64.b64decode(encoded).decode()


def probe_secret_database(
    kube: Kube, namespace: str, ref: DatabaseSecretRef, timeout: float
) -> ProbeResult:
    try:
        url = read_secret_value(kube, namespace, ref)
    except (LookupError, ApiError, ValueError) as error:
        return ProbeResult(False, str(error))
    reason = invalid_url_reason(url)
    if reason is not None:
        return ProbeResult(
            False,
            f"Secret {ref.secret_name} key {ref.key} is not a valid PostgreSQL URL: {reason}",
        )
    return probe_database(url, timeout=timeout)
