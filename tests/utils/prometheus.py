"""A real Prometheus on loopback for tests, and promtool (both built by tools/prometheus)."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.utils.servers import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tools" / "prometheus" / "build.sh"


@functools.cache
def prometheus_bin_dir() -> Path:
    """The folder of the pinned prometheus and promtool, built on first use (minutes)."""
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False, timeout=3600
    )
    if result.returncode != 0:
        raise RuntimeError(f"tools/prometheus/build.sh failed:\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool; the caller checks returncode (its output says what failed)."""
    return subprocess.run(
        [str(prometheus_bin_dir() / "promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def scrape_config(job: str, *targets: str, metrics_path: str = "/metrics") -> dict[str, Any]:
    """One static scrape job of `host:port` targets."""
    return {"job_name": job, "metrics_path": metrics_path, "static_configs": [{"targets": targets}]}


class PrometheusServer:
    """Prometheus with the given scrape jobs and rule groups, every `interval`, in a temporary
    folder, listening on 127.0.0.1 only; its API answers through `query` and `alerts`."""

    def __init__(
        self,
        *,
        scrape_configs: list[dict[str, Any]],
        rule_groups: list[dict[str, Any]] | None = None,
        interval: str = "1s",
    ) -> None:
        self.scrape_configs = scrape_configs
        self.rule_groups = rule_groups or []
        self.interval = interval
        self.port = free_port()
        self.base_dir = Path(tempfile.mkdtemp(prefix="repairgpt-prometheus-"))
        self.log_file = self.base_dir / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10)

    def _write_config(self) -> Path:
        rules = self.base_dir / "rules.yml"
        rules.write_text(yaml.safe_dump({"groups": self.rule_groups}, sort_keys=False))
        config = {
            "global": {
                "scrape_interval": self.interval,
                "scrape_timeout": self.interval,
                "evaluation_interval": self.interval,
            },
            "rule_files": [str(rules)],
            "scrape_configs": self.scrape_configs,
        }
        path = self.base_dir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def start(self, timeout: float = 30) -> PrometheusServer:
        config = self._write_config()
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(prometheus_bin_dir() / "prometheus"),
                    f"--config.file={config}",
                    f"--storage.tsdb.path={self.base_dir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_for(self._ready, timeout=timeout, what="Prometheus ready")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"Prometheus exited:\n{self.log()[-3000:]}")
        try:
            return self.http.get("/-/ready").status_code == 200
        except httpx.TransportError:
            return False

    def wait_for(self, check: Callable[[], bool], *, timeout: float, what: str) -> float:
        """Poll `check` every 0.2 s; returns the seconds it took, or raises TimeoutError."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if check():
                return time.monotonic() - started
            time.sleep(0.2)
        raise TimeoutError(f"{what}: not within {timeout:.0f} s\n{self.log()[-2000:]}")

    def wait_for_data(self, expr: str, *, timeout: float) -> float:
        """Wait until the instant query `expr` returns at least one series."""
        return self.wait_for(lambda: bool(self.query(expr)), timeout=timeout, what=expr)

    def _api(self, path: str, **params: str) -> Any:
        response = self.http.get(f"/api/v1/{path}", params=params)
        body = response.json()
        if response.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {response.status_code} {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result: for a vector, a list of {metric, value}."""
        data = self._api("query", query=expr)
        result: list[dict[str, Any]] = (
            data["result"] if data["resultType"] in ("vector", "matrix") else [data]
        )
        return result

    def alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        """Active alerts (pending and firing), or those in `state` only."""
        alerts: list[dict[str, Any]] = self._api("alerts")["alerts"]
        return [a for a in alerts if state is None or a["state"] == state]

    def firing(self, name: str) -> list[dict[str, Any]]:
        return [a for a in self.alerts("firing") if a["labels"]["alertname"] == name]

    def targets_up(self) -> bool:
        """Every scrape target has been scraped successfully."""
        targets = self._api("targets", state="active")["activeTargets"]
        return bool(targets) and all(t["health"] == "up" for t in targets)

    def rule_health(self) -> dict[str, str]:
        """Each loaded rule's name and health (ok, err, unknown)."""
        groups = self._api("rules")["groups"]
        return {rule["name"]: rule["health"] for g in groups for rule in g["rules"]}

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def stop(self) -> None:
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.base_dir, ignore_errors=True)


# Grafana's built-in interval variables, as a dashboard over the last few minutes sets them.
GRAFANA_BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "5m"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")


def panel_queries(
    dashboard: dict[str, Any], variables: dict[str, str] | None = None
) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every target of every panel, template variables substituted."""
    values = {**GRAFANA_BUILTINS, **(variables or {})}

    def substitute(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"template variable ${name} has no value")
        return values[name]

    return [
        (panel["title"], _VARIABLE.sub(substitute, target["expr"]))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
