"""The cluster's certificates (one CA signs all) and the kubeconfigs built from them."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from devcluster.processes import DevClusterError


@dataclass(frozen=True)
class Identity:
    """One certificate: its file name, subject, and extensions."""

    name: str
    subject: str
    extensions: str


def client(name: str, user: str, group: str = "") -> Identity:
    subject = (f"/O={group}" if group else "") + f"/CN={user}"
    return Identity(name, subject, "extendedKeyUsage=clientAuth")


def server(name: str, common_name: str, alt_names: list[str]) -> Identity:
    return Identity(
        name,
        f"/CN={common_name}",
        f"subjectAltName={','.join(alt_names)}\nextendedKeyUsage=serverAuth",
    )


def _openssl(*args: str, cwd: Path) -> None:
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise DevClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def make_ca(pki: Path) -> None:
    """The CA and the service-account signing key, made once per state folder."""
    pki.mkdir(parents=True, exist_ok=True)
    if not (pki / "ca.crt").exists():
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650",
            "-subj", "/CN=repairgpt-dev-cluster-ca", cwd=pki,
        )  # fmt: skip
    if not (pki / "sa.pub").exists():
        _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
        _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def issue(pki: Path, identity: Identity) -> None:
    """A key and a certificate signed by the CA (made anew: addresses change between starts)."""
    ext_file = pki / f"{identity.name}.ext"
    ext_file.write_text(identity.extensions + "\n")
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{identity.name}.key", "-out", f"{identity.name}.csr",
        "-subj", identity.subject, cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{identity.name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{identity.name}.crt", "-days", "3650",
        "-extfile", ext_file.name, cwd=pki,
    )  # fmt: skip


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def build_kubeconfig(server_url: str, pki: Path, user: str) -> dict[str, object]:
    """A kubeconfig for `user` (a client certificate name in `pki`), embedding its credentials."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "repairgpt-dev",
                "cluster": {
                    "server": server_url,
                    "certificate-authority-data": _b64(pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": _b64(pki / f"{user}.crt"),
                    "client-key-data": _b64(pki / f"{user}.key"),
                },
            }
        ],
        "contexts": [
            {"name": "repairgpt-dev", "context": {"cluster": "repairgpt-dev", "user": user}}
        ],
        "current-context": "repairgpt-dev",
    }


def write_kubeconfig(path: Path, server_url: str, pki: Path, user: str) -> Path:
    path.write_text(yaml.safe_dump(build_kubeconfig(server_url, pki, user)))
    path.chmod(0o600)
    return path


def server_of(kubeconfig: Path) -> str:
    """The API server URL of a kubeconfig's current context."""
    config = yaml.safe_load(kubeconfig.read_text())
    context_name = config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    url: str = cluster["server"]
    return url
