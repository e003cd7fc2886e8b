"""What the CPU can do fast, for choices that depend on it (training precision, serving precision)."""
from __future__ import annotations


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (Linux), or None where there is no such file."""
    try:
        with open("/proc/cpuinfo") as f:
            line = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return None
    return set(line.partition(":")[2].split()) or None


def cpu_has_bf16() -> bool:
    """bf16 autocast only pays off with native bf16 arithmetic (AVX512-BF16 / AMX): measured here,
    2x faster training with it, ~10x slower on an AVX2-only CPU. On Linux the CPU flags decide
    (plain AVX-512 without the bf16 extension is not enough); elsewhere torch's capability."""
    flags = cpu_flags()
    if flags is not None:
        return "avx512_bf16" in flags or "amx_bf16" in flags
    import torch

    cap = torch.backends.cpu.get_cpu_capability()
    return "AVX512" in cap or "AMX" in cap


def cpu_has_vnni(flags: set[str] | None = None) -> bool:
    """Whether int8 products accumulate exactly in hardware (AVX512-VNNI, AVX-VNNI or AMX-INT8). Without VNNI,
    x86 multiplies u8 x s8 pairs into saturating 16-bit sums, which changed 16 % of an int8 encoder's readings
    (`ocr.onnx_export.quantize_graph`). flags: the CPU's (default: this one's; none known: False)."""
    flags = cpu_flags() if flags is None else flags
    return bool(flags) and bool({"avx512_vnni", "avx_vnni", "amx_int8"} & flags)
