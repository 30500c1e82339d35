#!/usr/bin/env bash
# `make demo`: a control plane (local, or $KUBECONFIG's), the CRDs, the operator, one instance,
# and the bundled API on its embedded defaults answering a question. `make demo-down` stops it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bin="$root/.venv/bin"
state="$root/.demo"
cluster_dir="$root/.cluster"
namespace="repairgpt-demo"
mkdir -p "$state"

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

stop_pidfile() {
    local file="$1"
    if [ -f "$file" ]; then
        local pid
        pid="$(cat "$file")"
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$file"
    fi
}

free_port() {
    "$bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

if [ "${1:-}" = "down" ]; then
    stop_pidfile "$state/api.pid"
    stop_pidfile "$state/operator.pid"
    "$bin/repairgpt-operator" dev-cluster down --dir "$cluster_dir"
    echo "demo stopped"
    exit 0
fi

kubectl_bin="$("$bin/repairgpt-operator" dev-cluster build | tail -n1)/kubectl"
if [ -n "${KUBECONFIG:-}" ]; then
    demo_uses_own_cluster=1
    say "Using the cluster of KUBECONFIG=$KUBECONFIG"
else
    say "Starting the local Kubernetes control plane in $cluster_dir"
    "$bin/repairgpt-operator" dev-cluster up --dir "$cluster_dir"
    export KUBECONFIG="$cluster_dir/kubeconfig"
fi
kubectl() { "$kubectl_bin" "$@"; }
kubectl version | sed 's/^/    /'

say "Installing the CustomResourceDefinitions (crds/)"
kubectl apply --server-side --field-manager=repairgpt-demo -f crds/
kubectl wait --for=condition=Established --timeout=60s crd --all >/dev/null

say "Starting the operator (log: $state/operator.log)"
stop_pidfile "$state/operator.pid"
metrics_port="$(free_port)"
"$bin/repairgpt-operator" run --metrics-host 127.0.0.1 --metrics-port "$metrics_port" \
    >"$state/operator.log" 2>&1 &
echo $! >"$state/operator.pid"
echo "    operator metrics: http://127.0.0.1:$metrics_port/metrics"

say "Applying examples/minimal.yaml to namespace $namespace"
kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n "$namespace" apply -f examples/minimal.yaml
name="$(kubectl -n "$namespace" get rgi -o jsonpath='{.items[0].metadata.name}')"
kubectl -n "$namespace" wait --for=condition=Reconciled --timeout=120s "rgi/$name" >/dev/null
kubectl -n "$namespace" get rgi
echo
kubectl -n "$namespace" get deploy,svc,hpa,pdb,networkpolicy,configmap,serviceaccount \
    -l app.kubernetes.io/instance="$name"
echo "    (this control plane has no kubelet, so the API pods stay Pending)"

say "Maintenance mode on: kubectl patch rgi $name --type merge -p '{\"spec\":{\"maintenance\":{\"enabled\":true}}}'"
kubectl -n "$namespace" patch rgi "$name" --type merge -p '{"spec":{"maintenance":{"enabled":true}}}'
kubectl -n "$namespace" wait --for=condition=Maintenance --timeout=60s "rgi/$name" >/dev/null
kubectl -n "$namespace" wait --timeout=60s "svc/$name-api" \
    --for=jsonpath='{.spec.selector.app\.kubernetes\.io/component}'=maintenance >/dev/null
kubectl -n "$namespace" get rgi
kubectl -n "$namespace" get deploy -l app.kubernetes.io/instance="$name"
echo "    Service $name-api selects: $(kubectl -n "$namespace" get svc "$name-api" \
    -o jsonpath='{.spec.selector.app\.kubernetes\.io/component}')"

say "Maintenance mode off"
kubectl -n "$namespace" patch rgi "$name" --type merge -p '{"spec":{"maintenance":{"enabled":false}}}'
for _ in $(seq 100); do
    phase="$(kubectl -n "$namespace" get rgi "$name" -o jsonpath='{.status.maintenance.phase}')"
    [ "$phase" = "Exiting" ] && break
    sleep 0.2
done
echo "    maintenance phase: $phase (the Service stays on the maintenance page until an API pod is ready)"
if [ -z "${demo_uses_own_cluster:-}" ]; then
    # No kubelet here: mark the API pods Ready the way a kubelet would, to let maintenance end.
    ready_patch='{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"},{"type":"ContainersReady","status":"True"}]}}'
    for _ in $(seq 120); do
        for pod in $(kubectl -n "$namespace" get pods -o name \
            -l app.kubernetes.io/instance="$name",app.kubernetes.io/component=api); do
            kubectl -n "$namespace" patch "$pod" --subresource=status --type merge \
                -p "$ready_patch" >/dev/null 2>&1 || true
        done
        [ "$(kubectl -n "$namespace" get rgi "$name" -o jsonpath='{.status.maintenance.phase}')" = "Off" ] && break
        sleep 0.5
    done
    echo "    (no kubelet on this control plane: the demo marked the API pod Ready, as a kubelet would)"
fi
kubectl -n "$namespace" wait --for=condition=Maintenance=false --timeout=120s "rgi/$name" >/dev/null
kubectl -n "$namespace" wait --timeout=60s "svc/$name-api" \
    --for=jsonpath='{.spec.selector.app\.kubernetes\.io/component}'=api >/dev/null
kubectl -n "$namespace" get rgi
kubectl -n "$namespace" get deploy -l app.kubernetes.io/instance="$name"
echo "    Service $name-api selects: $(kubectl -n "$namespace" get svc "$name-api" \
    -o jsonpath='{.spec.selector.app\.kubernetes\.io/component}')"

say "Starting the RepairGPT API on its embedded defaults (SQLite, offline answers, seed guides)"
stop_pidfile "$state/api.pid"
api_port="$(free_port)"
(cd "$state" && exec "$bin/repairgpt" serve --host 127.0.0.1 --port "$api_port") \
    >"$state/api.log" 2>&1 &
echo $! >"$state/api.pid"
api="http://127.0.0.1:$api_port"
for _ in $(seq 150); do
    curl -fsS "$api/ready" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "$api/ready" >/dev/null || { echo "the API did not become ready; see $state/api.log"; exit 1; }

ask() {
    local question="$1" session token
    session="$(curl -fsS -X POST "$api/api/v1/chat/sessions")"
    token="$("$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$session")"
    id="$("$bin/python" -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$session")"
    printf '\n    Q: %s\n' "$question"
    curl -fsS -X POST "$api/api/v1/chat/sessions/$id/messages" \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        -d "$("$bin/python" -c 'import json,sys; print(json.dumps({"content": sys.argv[1]}))' "$question")" |
        "$bin/python" -c 'import json,sys; a=json.load(sys.stdin); print("\n".join("    " + l for l in a["answer"].splitlines()[:14])); print("    cited:", ", ".join(c["title"] for c in a["citations"]))'
}
ask "My iPhone 13 battery drains really fast, how do I replace it?"
ask "Switchのジョイコンが勝手に動く。直し方は？"

say "Done"
cat <<EOF
    kubectl:   export KUBECONFIG=$KUBECONFIG; $kubectl_bin -n $namespace get rgi
    API:       $api/docs   (guides: $api/api/v1/guides?q=battery)
    logs:      $state/operator.log, $state/api.log
    stop all:  make demo-down
EOF
