"""What the CPU can do fast, for choices that depend on it (training precision, serving precision)."""
from __future__ import annotations

import torch


def cpu_has_bf16() -> bool:
    """bf16 autocast only pays off with native bf16 arithmetic (AVX512-BF16 / AMX): measured here,
    2x faster training with it, ~10x slower on an AVX2-only CPU. On Linux the CPU flags decide
    (plain AVX-512 without the bf16 extension is not enough); elsewhere torch's capability."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
        if flags:
            return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        pass
    cap = torch.backends.cpu.get_cpu_capability()
    return "AVX512" in cap or "AMX" in cap
