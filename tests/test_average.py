"""Checkpoint averaging (ocr.checkpoint.average_checkpoints, scripts/average.py)."""
import dataclasses
import re
import sys
from pathlib import Path

import pytest
import torch

from ocr import CheckpointError, load_checkpoint, save_checkpoint
from ocr.checkpoint import average_checkpoints
from ocr.config import preset
from ocr.model import Recognizer
from conftest import run_script

ROOT = Path(__file__).resolve().parent.parent


def _model(seed: int, cfg=None) -> Recognizer:
    torch.manual_seed(seed)
    m = Recognizer(cfg or preset("digits")).eval()
    for i, bn in enumerate(mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.num_batches_tracked.fill_(100 * seed + i)
    return m


def test_the_average_is_the_elementwise_mean_and_keeps_the_first_counters(tmp_path):
    a, b, c = (_model(s) for s in (1, 2, 3))
    paths = [save_checkpoint(m, tmp_path / f"{i}.safetensors", {"steps": i}) for i, m in enumerate((a, b, c))]
    avg, meta = average_checkpoints(paths)
    assert meta == {"steps": 0}
    sa, sb, sc, s = a.state_dict(), b.state_dict(), c.state_dict(), avg.state_dict()
    for k, v in s.items():
        if v.is_floating_point():
            assert torch.allclose(v, (sa[k] + sb[k] + sc[k]) / 3, atol=1e-6), k
        else:
            assert torch.equal(v, sa[k]), k
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if sa[k].is_floating_point())   # the inputs differ


def test_a_checkpoint_averaged_with_itself_reads_the_same(tmp_path):
    m = _model(4)
    p = save_checkpoint(m, tmp_path / "m.safetensors")
    avg, _ = average_checkpoints([p, p])
    x = torch.randn(3, m.cfg.channels, m.cfg.img_h, m.cfg.img_w)
    with torch.no_grad():
        assert torch.equal(m.greedy(x)[0], avg.greedy(x)[0])


def test_refuses_one_checkpoint_and_different_configs(tmp_path):
    p = save_checkpoint(_model(1), tmp_path / "a.safetensors")
    other_cfg = dataclasses.replace(preset("digits"), hidden=preset("digits").hidden + 16)
    q = save_checkpoint(_model(2, other_cfg), tmp_path / "b.safetensors")
    with pytest.raises(CheckpointError, match="at least two"):
        average_checkpoints([p])
    with pytest.raises(CheckpointError, match="different config"):
        average_checkpoints([p, q])
    with pytest.raises(CheckpointError, match="not found"):
        average_checkpoints([p, tmp_path / "missing.safetensors"])


def test_average_cli_writes_a_checked_average_and_never_overwrites(tmp_path):
    paths = [str(save_checkpoint(_model(1), tmp_path / f"{i}.safetensors", {"steps": 10 * i})) for i in (1, 2)]
    dst = tmp_path / "avg.safetensors"
    cmd = [sys.executable, "scripts/average.py", str(dst), *paths, "--check", "16", "--min-agree", "0.5"]
    r = run_script(cmd)
    assert r.returncode == 0, r.stderr[-2000:]
    agree = re.search(r"reads as 1\.safetensors on ([0-9.]+)% of 16 synthetic samples", r.stdout)
    assert agree and float(agree.group(1)) == 100.0          # two copies of one model average to itself
    _, meta = load_checkpoint(dst)
    assert meta["averaged"] == paths and meta["steps"] == 10
    again = run_script(cmd)
    assert again.returncode == 1 and "--force" in again.stderr and "Traceback" not in again.stderr
    onto_input = run_script(cmd[:2] + [paths[0], *paths, "--force"])
    assert onto_input.returncode == 1 and "one of the inputs" in onto_input.stderr
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    bad = run_script(cmd[:2] + [str(tmp_path / "x.safetensors"), paths[0], str(broken)])
    assert bad.returncode == 1 and "error:" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.safetensors").exists()
    strict = run_script(cmd[:2] + [str(tmp_path / "y.safetensors"), *paths, "--check", "8", "--min-agree", "1.01"])
    assert strict.returncode == 1 and "agreement below --min-agree" in strict.stderr
    assert not (tmp_path / "y.safetensors").exists()
