"""The word prior (`ocr.lm`): a character n-gram model of a word list, fused into greedy and beam decoding."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from ocr.config import preset
from ocr.lm import ALPHABET, END, CharNgramLM, LMFusion, default_fusion, read_word_list, word_lm
from ocr.model import Recognizer
from ocr.recognizer import TextRecognizer, load_recognizer
from ocr.serving import ServingModel
from ocr.tokenizer import EOS
from conftest import run_script

WORDS = [("cat", 5.0), ("car", 3.0), ("cart", 1.0), ("dog", 2.0), ("do", 1.0)]


def _p(lm, prefix, ch):
    return float(np.exp(lm.log_probs(prefix)[END if ch == "$" else ALPHABET.index(ch)]))


@pytest.mark.parametrize("prefix", ["", "c", "ca", "cart", "zzz", "qxqxqxqx"])
def test_every_context_is_a_distribution_with_nothing_impossible(prefix):
    lm = CharNgramLM(WORDS, order=4)
    p = np.exp(lm.log_probs(prefix).astype(np.float64))
    assert p.shape == (27,)
    assert p.sum() == pytest.approx(1.0, abs=1e-5)
    assert (p > 0).all()


def test_the_model_follows_the_weighted_words():
    lm = CharNgramLM(WORDS, order=4)
    assert _p(lm, "ca", "t") > _p(lm, "ca", "r") > _p(lm, "ca", "x")   # cat (5) over car + cart (4)
    assert _p(lm, "car", "$") > _p(lm, "car", "t")                     # car (3) ends, cart (1) goes on
    assert _p(lm, "do", "g") > _p(lm, "do", "z")
    # an unseen context backs off to its longest seen suffix: "zca" and "qca" were never seen, "ca"
    # (inside a word) was: both read as it, and still expect the t of cat
    assert np.allclose(lm.log_probs("zca"), lm.log_probs("qca"))
    assert _p(lm, "zca", "t") > _p(lm, "zca", "x")
    assert not np.allclose(lm.log_probs("zca"), lm.log_probs("ca"))   # "ca" at a word's start is "^ca"


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="no usable word"):
        CharNgramLM([("Hello", 1.0), ("a1", 1.0), ("", 1.0)])
    with pytest.raises(ValueError, match="order"):
        CharNgramLM(WORDS, order=0)
    with pytest.raises(ValueError, match="weighting"):
        read_word_list(weighting="cubic")
    with pytest.raises(ValueError, match="weight"):
        LMFusion(CharNgramLM(WORDS), "abc", 0)


def test_the_shipped_word_list_gives_the_words_the_engine_draws():
    lm = word_lm()
    assert lm.words > 40_000
    assert _p(lm, "centr", "e") > 0.1 and _p(lm, "centr", "x") < 0.01   # central, centre, ...
    assert _p(lm, "station", "$") > 0.5


def test_fusion_bonus_is_weighted_log_ratio_on_letters_and_end_only():
    charset = preset("words").charset
    lm = CharNgramLM(WORDS, order=4)
    one, two = LMFusion(lm, charset, 1.0), LMFusion(lm, charset, 2.0)
    b = one.bonus("ca")
    assert b.shape == (len(charset) + 1,)
    t, T = charset.index("t") + 1, charset.index("T") + 1
    assert b[t] == b[T] == pytest.approx(float(lm.log_probs("ca")[ALPHABET.index("t")]) - math.log(1 / 27))
    assert b[EOS] == pytest.approx(float(lm.log_probs("ca")[END]) - math.log(1 / 27))
    assert b[charset.index("7") + 1] == 0 and b[charset.index("&") + 1] == 0
    assert np.allclose(two.bonus("CA"), 2 * b)         # case does not matter; the weight scales
    assert one.bonus("ca7") is None and one.bonus("a-b") is None   # no prior after a non-letter


def test_score_is_the_sum_of_the_bonuses_along_a_reading():
    charset = preset("words").charset
    fusion = LMFusion(CharNgramLM(WORDS, order=4), charset, 0.5)
    c, a, t = (charset.index(ch) + 1 for ch in "cat")
    want = fusion.bonus("")[c] + fusion.bonus("c")[a] + fusion.bonus("ca")[t] + fusion.bonus("cat")[EOS]
    assert fusion.score("cat") == pytest.approx(float(want))
    assert fusion.score("CAT") == pytest.approx(fusion.score("cat"))
    assert fusion.score("cat") > fusion.score("cqt")               # the word over a misspelling of it
    assert fusion.score("") == pytest.approx(float(fusion.bonus("")[EOS]))
    # the prior stops where the decoder stopped getting it: after the first non-letter
    assert fusion.score("ca7t") == pytest.approx(float(fusion.bonus("")[c] + fusion.bonus("c")[a]))
    assert fusion.score("7cat") == 0


def test_fusion_changes_a_near_tie_towards_the_word():
    charset = preset("words").charset
    fusion = LMFusion(word_lm(), charset, 0.3)
    logp = np.full((2, len(charset) + 1), -20.0, dtype=np.float32)
    x, e = charset.index("x") + 1, charset.index("e") + 1
    logp[:, x], logp[:, e] = math.log(0.52), math.log(0.48)
    fused = fusion.apply(logp, ["centr", "centr"], [True, False])
    assert fused[0].argmax() == e          # the prior turns the near tie
    assert fused[1].argmax() == x          # an inactive (finished) row is left as it was
    assert fusion.extend(["centr", "ab"], [e, EOS], [False, False]) == ["centre", "ab"]


def test_default_fusion():
    words = preset("words")
    assert default_fusion(words, 0) is None
    assert default_fusion(preset("digits"), 0.5) is None       # no letters in the charset
    f = default_fusion(words, 0.4)
    assert isinstance(f, LMFusion) and f.weight == 0.4
    with pytest.raises(ValueError):
        default_fusion(words, -1.0)
    assert load_recognizer("words", lm_weight=0).lm is None
    assert load_recognizer("words", lm_weight=0.3).lm.weight == 0.3


def _random_words_model(cell: str) -> Recognizer:
    torch.manual_seed(5)
    cfg = dataclasses.replace(preset("words"), cell=cell, context=16)
    m = Recognizer(cfg).eval()
    torch.nn.init.normal_(m.encoder.context.proj.weight, std=0.1)
    with torch.no_grad():  # a decoder that prefers letters, so that the prior has choices to turn
        m.decoder.out.bias.normal_(0, 2.0)
    return m


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_serving_and_training_model_read_the_same_with_the_prior(cell):
    m = _random_words_model(cell)
    fusion = LMFusion(word_lm(), m.cfg.charset, 0.8)
    x = torch.randn(6, 1, 32, 128)
    t1, p1, a1 = (t.numpy() for t in m.greedy(x, lm=fusion))
    t2, p2, a2 = ServingModel(m).greedy(x.numpy(), lm=fusion)
    assert np.array_equal(t1, t2)
    assert np.allclose(p1, p2, atol=1e-5) and np.allclose(a1, a2, atol=1e-5)
    t0, _, _ = m.greedy(x)
    assert not np.array_equal(t0.numpy(), t1)   # the prior is applied: with this weight it changes readings
    bt, bp, _ = m.beam(x[:1], 3, lm=fusion)
    ft, fp, _ = ServingModel(m).beam(x[:1].numpy(), 3, lm=fusion)
    assert np.array_equal(bt.numpy(), ft) and np.allclose(bp.numpy(), fp, atol=1e-5)
    with_lm = [m.beam(x[i:i + 1], 3, lm=fusion)[0].tolist() for i in range(len(x))]
    without = [m.beam(x[i:i + 1], 3)[0].tolist() for i in range(len(x))]
    assert with_lm != without            # beam search applies the prior too


def test_confidences_stay_the_decoders_own_probabilities():
    m = _random_words_model("lstm")
    x = torch.randn(3, 1, 32, 128)
    rec = TextRecognizer(m, lm=LMFusion(word_lm(), m.cfg.charset, 0.8), serving=False)
    for pred, xi in zip(rec.read_prepared(x), x):
        ids = m.tokenizer.encode([pred.text])          # (1, len + 1): the characters, then EOS
        with torch.no_grad():
            logits = m(xi[None], ids)[0]               # teacher-forced on what was read
        own = torch.softmax(logits.float(), 1)[torch.arange(ids.shape[1]), ids[0]]
        assert np.allclose(pred.char_confidences, own[:-1].tolist(), atol=1e-5)
        assert pred.confidence == pytest.approx(float(own.prod()), abs=1e-5)


def test_a_missing_word_list_warns_for_the_default_and_fails_when_asked(monkeypatch, tmp_path):
    import ocr.lm as lm_module
    monkeypatch.setattr(lm_module, "WORD_FREQUENCIES", tmp_path / "missing.tsv")
    monkeypatch.setattr(lm_module, "word_lm", lambda *a: CharNgramLM(read_word_list(tmp_path / "missing.tsv")))
    with pytest.warns(UserWarning, match="without the word prior"):   # the checkpoint's own setting: reads on
        assert default_fusion(preset("words"), 0.25, strict=False) is None
    with pytest.raises(ValueError, match="cannot build the word prior"):   # asked for by the caller: refused
        default_fusion(preset("words"), 0.25)


def test_evaluate_cli_says_which_prior_it_read_with(tmp_path):
    import sys
    from pathlib import Path

    from PIL import Image

    root = Path(__file__).resolve().parent.parent
    folder = tmp_path / "crops"
    folder.mkdir()
    examples = sorted((root / "data" / "examples").glob("words_*.png"))[:2]
    for i, path in enumerate(examples):
        Image.open(path).save(folder / f"{i}.png")
    (folder / "labels.tsv").write_text("".join(f"{i}.png\t{p.stem.split('_')[-1]}\n" for i, p in enumerate(examples)))
    cmd = [sys.executable, "scripts/evaluate.py", "words", f"folder:{folder}", "--threads", "1"]
    run = lambda extra: run_script(cmd + extra)  # noqa: E731
    assert "word prior 0.25" in run([]).stdout            # the words model's own reading settings
    assert "no word prior" in run(["--lm-weight", "0"]).stdout
    bad = run(["--lm-weight", "-1"])
    assert bad.returncode == 2 and "--lm-weight" in bad.stderr and "Traceback" not in bad.stderr
