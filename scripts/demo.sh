#!/usr/bin/env bash
# `make demo`: the local cluster (control plane and a real node), the operator installed from
# deploy/ as a pod of the image built here, a PostgreSQL server for the instance, and
# examples/minimal.yaml in namespace repairgpt-demo answering questions in English and Japanese
# through its Service. Maintenance mode goes on and off once. `make demo-down` stops everything.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
state="$root/.demo"
cluster_dir="$root/.cluster"
namespace="repairgpt-demo"
pg_dir="$state/postgres"
mkdir -p "$state"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
pg() { runuser -u postgres -- "$pg_bin/$1" "${@:2}"; }

stop_postgres() {
    if [ -f "$pg_dir/data/postmaster.pid" ]; then
        pg pg_ctl -D "$pg_dir/data" -m fast -w stop >/dev/null || true
    fi
}

if [ "${1:-}" = "down" ]; then
    stop_postgres
    tools/dev-cluster down --dir "$cluster_dir"
    echo "demo stopped"
    exit 0
fi

say "Starting the local cluster in $cluster_dir (the first run builds Kubernetes and the images)"
tools/dev-cluster up --dir "$cluster_dir"
export KUBECONFIG="$cluster_dir/kubeconfig"
kubectl_bin="$(tools/dev-cluster build 2>/dev/null | tail -n1)/kubectl"
kubectl() { "$kubectl_bin" "$@"; }
slot="$(cat "$cluster_dir/slot")"
host_ip="10.152.$slot.1"
netns="repairgpt-node-$slot"
kubectl get nodes -o wide | sed 's/^/    /'

say "Starting PostgreSQL for the instance on $host_ip (data in $pg_dir)"
if [ ! -f "$pg_dir/data/PG_VERSION" ]; then
    mkdir -p "$pg_dir"
    chown postgres "$pg_dir"
    pg initdb -D "$pg_dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C >/dev/null
    "$bin/python" -c 'import secrets; print(secrets.token_urlsafe(18))' >"$state/db-password"
    chmod 600 "$state/db-password"
    echo "host all all 10.152.0.0/16 scram-sha-256" >>"$pg_dir/data/pg_hba.conf"
fi
stop_postgres
pg_port="$(cat "$pg_dir/port" 2>/dev/null || "$bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
echo "$pg_port" >"$pg_dir/port"
# The node's address changes with its slot: give it to the server at each start.
pg pg_ctl -D "$pg_dir/data" -l "$pg_dir/postgres.log" -w \
    -o "-c listen_addresses=127.0.0.1,$host_ip -c port=$pg_port -c unix_socket_directories=$pg_dir" \
    start >/dev/null
password="$(cat "$state/db-password")"
psql_admin() { pg psql -X -q -h "$pg_dir" -p "$pg_port" -U postgres "$@"; }
if [ "$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = 'repairgpt'")" != "1" ]; then
    psql_admin -c "CREATE ROLE repairgpt LOGIN PASSWORD '$password'"
    psql_admin -c "CREATE DATABASE repairgpt OWNER repairgpt"
fi
database_url="postgresql://repairgpt:$password@$host_ip:$pg_port/repairgpt"
echo "    postgresql://repairgpt:***@$host_ip:$pg_port/repairgpt"

# The images dev-cluster built from the Dockerfiles and imported into the node.
app_image="$("$bin/python" -c '
import json, sys
print(next(i for i in json.load(open(sys.argv[1]))["images"] if "/repairgpt-app:" in i))' \
    "$cluster_dir/cluster.json")"
operator_image="${app_image/repairgpt-app/repairgpt-operator}"

say "Installing the operator from deploy/ with image $operator_image"
overlay="$state/deploy"
mkdir -p "$overlay"
cat >"$overlay/kustomization.yaml" <<EOF
# deploy/ with the operator image built here (as you would point it at your registry's image).
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../deploy
images:
  - name: ghcr.io/example/repairgpt-operator
    newName: ${operator_image%:*}
    newTag: ${operator_image##*:}
EOF
kubectl apply --server-side --force-conflicts -k "$overlay" | sed 's/^/    /'
kubectl -n repairgpt-system rollout status deployment/repairgpt-operator --timeout=300s

say "Applying examples/minimal.yaml to namespace $namespace (image $app_image)"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
DATABASE_URL="$database_url" APP_IMAGE="$app_image" "$bin/python" - <<'PY' |
import os, sys, yaml
docs = [d for d in yaml.safe_load_all(open("examples/minimal.yaml")) if d]
for d in docs:
    if d["kind"] == "Secret":
        d["stringData"]["database-url"] = os.environ["DATABASE_URL"]
    else:
        d["spec"]["image"] = os.environ["APP_IMAGE"]
        # One 2-CPU node: a small request leaves room for the maintenance page and rollouts.
        d["spec"]["resources"] = {"requests": {"cpu": "100m", "memory": "192Mi"},
                                  "limits": {"cpu": "1", "memory": "512Mi"}}
yaml.safe_dump_all(docs, sys.stdout)
PY
    kubectl -n "$namespace" apply -f - | sed 's/^/    /'
name=repairgpt
kubectl -n "$namespace" wait --for=condition=Ready --timeout=300s "rgi/$name" >/dev/null
kubectl -n "$namespace" get rgi
kubectl -n "$namespace" get pods -o wide

cluster_ip="$(kubectl -n "$namespace" get svc "$name-api" -o jsonpath='{.spec.clusterIP}')"
api="http://$cluster_ip"
on_node() { ip netns exec "$netns" "$@"; }

ask() {
    local question="$1" session token id
    session="$(on_node curl -fsS -X POST "$api/api/v1/chat/sessions")"
    token="$("$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$session")"
    id="$("$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$session")"
    printf '\n    Q: %s\n' "$question"
    on_node curl -fsS -X POST "$api/api/v1/chat/sessions/$id/messages" \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "$("$bin/python" -c 'import json,sys; print(json.dumps({"content": sys.argv[1]}))' "$question")" |
        "$bin/python" -c 'import json,sys; a=json.load(sys.stdin); print("\n".join("    " + l for l in a["answer"].splitlines()[:14])); print("    cited:", ", ".join(c["title"] for c in a["citations"]))'
}

say "Maintenance mode on: kubectl patch rgi $name --type merge -p '{\"spec\":{\"maintenance\":{\"enabled\":true}}}'"
kubectl -n "$namespace" patch rgi "$name" --type merge -p '{"spec":{"maintenance":{"enabled":true}}}'
kubectl -n "$namespace" wait --for=condition=Maintenance --timeout=120s "rgi/$name" >/dev/null
kubectl -n "$namespace" rollout status "deployment/$name-maintenance" --timeout=180s >/dev/null
kubectl -n "$namespace" wait --timeout=60s "svc/$name-api" \
    --for=jsonpath='{.spec.selector.app\.kubernetes\.io/component}'=maintenance >/dev/null
echo "    GET $api/api/v1/guides through the Service now answers:"
on_node curl -sS -o /dev/null -w '    HTTP %{http_code}\n' "$api/api/v1/guides" || true

say "Maintenance mode off"
kubectl -n "$namespace" patch rgi "$name" --type merge -p '{"spec":{"maintenance":{"enabled":false}}}'
kubectl -n "$namespace" wait --for=condition=Maintenance=false --timeout=300s "rgi/$name" >/dev/null
kubectl -n "$namespace" wait --timeout=120s "svc/$name-api" \
    --for=jsonpath='{.spec.selector.app\.kubernetes\.io/component}'=api >/dev/null
kubectl -n "$namespace" wait --for=condition=Ready --timeout=300s "rgi/$name" >/dev/null
kubectl -n "$namespace" get rgi

say "Asking the API through its Service ($api, from the node)"
ask "My iPhone 13 battery drains really fast, how do I replace it?"
ask "Switchのジョイコンが勝手に動く。直し方は？"

say "Done. The cluster stays up; try next:"
cat <<EOF
    export KUBECONFIG=$KUBECONFIG
    $kubectl_bin -n $namespace get rgi,pods
    $kubectl_bin -n $namespace logs deploy/$name-api
    $kubectl_bin -n repairgpt-system logs deploy/repairgpt-operator
    $kubectl_bin -n $namespace port-forward svc/$name-api 8000:80   # then open http://127.0.0.1:8000/docs
    $kubectl_bin -n $namespace patch rgi $name --type merge -p '{"spec":{"replicas":2}}'
    ip netns exec $netns curl -s $api/api/v1/guides?q=battery      # the Service, from the node
    make demo-down                                                   # stop everything
EOF

say "The web page (the chat page at /, served by the API)"
on_node curl -sS -o /dev/null -w "    GET $api/ through the Service: HTTP %{http_code} (%{content_type})\n" \
    -H 'Accept: text/html' "$api/" || true
cat <<EOF
    $kubectl_bin -n $namespace port-forward svc/$name-api 8000:80
    then open http://127.0.0.1:8000/ in a browser (with an Ingress: https://<spec.ingress.host>/)
EOF
