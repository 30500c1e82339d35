#!/usr/bin/env bash
# Installs the Debian packages that tests and the demo need, when absent: the servers they start,
# the local cluster's node (containerd, runc, CNI plugins, iptables) and the image tools.
set -euo pipefail

need=()
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    need+=(postgresql postgresql-client)
fi
command -v pg_dump >/dev/null 2>&1 || need+=(postgresql-client)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-venv)
command -v cmake >/dev/null 2>&1 || need+=(cmake)   # llama-cpp-python builds from source
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v objdump >/dev/null 2>&1 || need+=(binutils)   # tests inspect the LLM server's build
command -v curl >/dev/null 2>&1 || need+=(curl)
# The browser tests drive Debian's Chromium through its chromedriver (nothing is downloaded).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] \
    || need+=(fonts-noto-cjk)   # Japanese text in the page's screenshots
# The node of the local cluster, and building the images it runs.
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v nsenter >/dev/null 2>&1 || need+=(util-linux)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
command -v buildah >/dev/null 2>&1 || need+=(buildah)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] \
    || need+=(libc6-dev)   # the pause binary is linked statically

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
echo "installing Debian packages: ${need[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "need root (or sudo) to install: ${need[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
# The Debian package starts its own servers; tests start throwaway ones instead.
for svc in redis-server postgresql containerd; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
        "${sudo[@]}" systemctl stop "$svc" || true
    fi
done
