#!/usr/bin/env bash
# Installs llama-cpp-python[server] (the tests' OpenAI-compatible LLM server) into a virtualenv,
# built for a portable x86-64 baseline instead of the build host's CPU.
#
# A native build (llama.cpp's default, -march=native) uses every instruction the build host has,
# such as AVX-512 and AMX, and then dies with a general protection fault on a machine of the same
# kind whose (virtual) CPU does not run them. The wheel is built once per version and flag set
# into a cache folder whose name is a hash of both, with pip's own wheel cache bypassed, so a
# native wheel that pip cached earlier is never picked up again.
#
#   scripts/install-llama-server.sh VENV_DIR
set -euo pipefail

venv="${1:?usage: install-llama-server.sh VENV_DIR}"
version="0.3.16"
# x86-64-v3 (AVX2, FMA, F16C): what every machine of this kind runs; nothing newer.
flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
flags+=" -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF"
flags+=" -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
flags+=" -DGGML_OPENMP=OFF"

python="$venv/bin/python"
pyver="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
key="$(printf '%s\n' "$version" "$flags" "$pyver" "$(uname -m)" | sha256sum | cut -c1-16)"
cache="${REPAIRGPT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/repairgpt/wheels}/llama-cpp-python-$version-$key"

log() { printf '[llama-server] %s\n' "$*" >&2; }

installed="$("$python" -c 'import importlib.metadata as m; print(m.version("llama-cpp-python"))' 2>/dev/null || true)"
stamp="$venv/.llama-cpp-python-$key"
if [ "$installed" = "$version" ] && [ -f "$stamp" ]; then
    exit 0
fi

wheel="$(ls "$cache"/llama_cpp_python-*.whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
    log "building llama-cpp-python $version for a portable CPU baseline (takes a few minutes)"
    log "CMAKE_ARGS=$flags"
    tmp="$cache.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    CMAKE_ARGS="$flags" FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" \
        "$python" -m pip wheel --quiet --no-cache-dir --no-deps --no-binary llama-cpp-python \
        -w "$tmp" "llama-cpp-python==$version"
    rm -rf "$cache"
    mv "$tmp" "$cache"
    wheel="$(ls "$cache"/llama_cpp_python-*.whl | head -n1)"
fi
log "installing $(basename "$wheel") from $cache"
# Replace whatever build was installed before (a native one, say) with the portable wheel.
"$python" -m pip install --quiet --force-reinstall --no-deps "$wheel"
"$python" -m pip install --quiet "$wheel[server]"
touch "$stamp"
