"""A training run's options (no torch here: the command lines build their --help from these defaults)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainOptions:
    steps: int = 100_000
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 500
    val_every: int = 1000
    keep_best: int = 3
    workers: int = 1
    threads: int = 0               # torch threads per process; 0 = leave torch's default
    precision: str = "auto"        # auto | fp32 | bf16
    channels_last: bool = True
    max_minutes: float = 0.0       # stop cleanly after this wall time (0 = no limit)
    seed: int = 0
    out_dir: str = "saves"
    grad_clip: float = 5.0
    ema: float = 0.0               # >0: keep an exponential moving average of the weights (e.g. 0.999);
                                   # validation and saved checkpoints use it, resuming keeps both
    stop_at: int = 0               # >0: stop cleanly at this step without changing the schedule
    ctc: float = 0.0               # >0: weight of an auxiliary CTC loss on the encoder (training only);
                                   # the same value must be given when resuming
    teacher: str = ""              # a trained checkpoint whose teacher-forced outputs the model learns from too
    kd: float = 0.0                # >0 (with teacher): weight of the distillation loss (KL to the teacher's
                                   # per-step character distribution at temperature kd_temp, times kd_temp^2)
    kd_temp: float = 2.0
