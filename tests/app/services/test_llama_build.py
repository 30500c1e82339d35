"""The test LLM server's native code is built for a portable CPU baseline, not for the build host.

A native build uses every instruction the build host has; on a machine of the same kind whose
CPU lacks AVX-512 or AMX, llama.cpp then dies with a general protection fault on its first
completion. So no AVX-512 (zmm or mask registers) or AMX (tile registers) instruction may appear.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

# zmm registers and the k1..k7 opmask registers are AVX-512; tmm registers and tile* are AMX.
NON_PORTABLE = re.compile(r"%zmm\d|\{%k[1-7]\}|%tmm\d|\btile(loadd|stored|zero|release)\b")


def native_libraries() -> list[Path]:
    try:
        package = Path(str(resources.files("llama_cpp")))
    except ModuleNotFoundError:
        pytest.fail("llama-cpp-python is not installed: make test installs it")
    return sorted(p for p in package.rglob("*.so*") if p.is_file())


def non_portable_instructions(library: Path, limit: int = 5) -> list[str]:
    found: list[str] = []
    with subprocess.Popen(
        ["objdump", "-d", "--no-show-raw-insn", str(library)],
        stdout=subprocess.PIPE,
        text=True,
    ) as dump:
        assert dump.stdout is not None
        for line in dump.stdout:
            if NON_PORTABLE.search(line):
                found.append(line.strip())
                if len(found) >= limit:
                    dump.kill()
                    break
    return found


def test_the_pattern_catches_avx512_and_amx_instructions() -> None:
    assert NON_PORTABLE.search("vmovups %zmm0,(%rax)")
    assert NON_PORTABLE.search("vaddps %ymm1,%ymm2,%ymm3{%k1}")
    assert NON_PORTABLE.search("tileloadd (%rsi,%rdx,1),%tmm0")
    assert not NON_PORTABLE.search("vfmadd231ps %ymm1,%ymm2,%ymm0")


@pytest.mark.slow
def test_llama_cpp_has_no_avx512_or_amx_instructions() -> None:
    if shutil.which("objdump") is None:
        pytest.fail("objdump (binutils) is needed to inspect the library")
    libraries = [p for p in native_libraries() if "ggml" in p.name or "llama" in p.name]
    assert libraries, "no native library found in the llama_cpp package"
    offenders = {str(lib): found for lib in libraries if (found := non_portable_instructions(lib))}
    assert not offenders, f"built for the build host's CPU, not a portable baseline: {offenders}"
