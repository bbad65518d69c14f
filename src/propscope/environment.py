"""What the model's numbers depend on besides its files: the runtime versions and the CPU's int8 path.

The shipped model multiplies int8 weights by int8 activations whose scale is computed from each
tensor at run time, so a last-bit change anywhere upstream (another onnxruntime release, another
float kernel) can re-round whole tensors and move the spans. ``pyproject.toml`` therefore bounds
onnxruntime to the releases whose outputs were checked to be identical, ``constraints.txt`` locks
every version, and ``propscope --version`` and the model card print what was used.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

RUNTIME_PACKAGES = ("onnxruntime", "tokenizers", "numpy")
# The onnxruntime releases whose token probabilities are bit-identical to those the shipped model's
# figures were measured with (benchmarks/runtime_agreement.py); pyproject.toml admits only these.
TESTED_ONNXRUNTIME = ("1.30", "1.31", "1.32")


def runtime_versions() -> dict[str, str]:
    """The installed version of each package the spans depend on, and Python's."""
    found = {}
    for name in RUNTIME_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    found["python"] = platform.python_version()
    return found


def _cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.partition(":")[2].split())
    return set()


def int8_path(machine: str | None = None, flags: set[str] | None = None) -> str:
    """How this CPU multiplies int8 matrices in onnxruntime, in words.

    With VNNI the u8 x s8 products are summed exactly. Without it, AVX2 and AVX-512 add pairs of
    products into a saturating 16-bit integer; the session option ``session.x64quantprecision``
    (which ``model.py`` sets) makes them widen the weights to u8 x u8 instead, which is exact, so
    AVX2 and AVX-512 machines give the same integers. Other CPUs were not checked.
    """
    machine = (machine or platform.machine()).lower()
    flags = _cpu_flags() if flags is None else flags
    if machine in {"x86_64", "amd64"}:
        if not flags:
            return "x86-64 (CPU features unknown)"
        if flags & {"avx512_vnni", "avx512vnni"}:
            return "x86-64 AVX-512 VNNI (exact u8 x s8)"
        if flags & {"avx_vnni", "avxvnni"}:
            return "x86-64 AVX-VNNI (exact u8 x s8)"
        if "avx512bw" in flags:
            return "x86-64 AVX-512 without VNNI (exact u8 x u8, session.x64quantprecision)"
        if "avx2" in flags:
            return "x86-64 AVX2 without VNNI (exact u8 x u8, session.x64quantprecision)"
        return "x86-64 SSE4.1 (u8 x s8 may saturate; not checked)"
    return f"{machine} (not checked)"


def untested_runtime(versions: dict[str, str] | None = None) -> str | None:
    """A warning when the installed onnxruntime is not one whose outputs were checked, else None."""
    installed = (versions or runtime_versions())["onnxruntime"]
    if ".".join(installed.split(".")[:2]) in TESTED_ONNXRUNTIME:
        return None
    return (f"onnxruntime {installed} is not one of the releases this model was checked on "
            f"({', '.join(TESTED_ONNXRUNTIME)}): its highlights may differ from the model card's; "
            "install propscope with its constraints (pip install -c constraints.txt) for identical ones")


def describe() -> str:
    """The runtime versions and the int8 path, one line each, as ``--version`` and the model card print them."""
    versions = runtime_versions()
    lines = [", ".join(f"{name} {value}" for name, value in versions.items()), f"int8 path: {int8_path()}"]
    warning = untested_runtime(versions)
    return "\n".join(lines + ([f"warning: {warning}"] if warning else []))
