"""Tokenizer, model shapes, one-batch overfit, greedy and beam decoding."""
import pytest
import torch

from ocr.config import CHARSET_ALNUM_LOWER, CHARSET_PRINTABLE, ModelConfig, preset
from ocr.model import Recognizer
from ocr.tokenizer import EOS, Tokenizer


def test_charsets():
    assert len(CHARSET_PRINTABLE) == 94 and " " not in CHARSET_PRINTABLE
    assert len(CHARSET_ALNUM_LOWER) == 36
    assert preset("digits").charset == "0123456789"


def test_tokenizer_round_trip_and_special_indices():
    tok = Tokenizer(CHARSET_PRINTABLE)
    texts = ["Hello,", "x", "a{b}c~", "2024-01-31"]
    enc = tok.encode(texts)
    assert enc.shape == (4, 11)
    for row, t in zip(enc, texts):
        assert tok.decode_ids(row) == t
        assert row[len(t)] == EOS and (row[len(t) + 1:] == tok.pad).all()
    assert len({EOS, tok.bos, tok.pad}) == 3 and tok.bos >= tok.num_classes and tok.pad >= tok.num_classes
    with pytest.raises(ValueError, match="not in the charset"):
        tok.encode(["héllo"])
    with pytest.raises(ValueError):
        Tokenizer("aa")


def test_digit_index_mapping_is_fixed():
    """The mapping comes from the charset order, never from the data."""
    tok = Tokenizer(preset("digits").charset)
    assert tok.encode(["0123456789"])[0, :10].tolist() == list(range(1, 11))


@pytest.mark.parametrize("name", ["words", "digits"])
def test_shapes(name):
    cfg = preset(name)
    m = Recognizer(cfg).eval()
    x = torch.randn(3, cfg.channels, cfg.img_h, cfg.img_w)
    y = m.tokenizer.encode(["1", "22", "333"])
    assert m(x, y).shape == (3, 4, len(cfg.charset) + 1)
    toks, probs, attn = m.greedy(x)
    fh, fw = cfg.feat_hw
    assert toks.shape == probs.shape and attn.shape == (3, toks.shape[1], fh * fw)
    assert toks.shape[1] <= cfg.max_len + 1
    assert torch.allclose(attn.sum(-1), torch.ones_like(attn.sum(-1)), atol=1e-4)
    assert (name, (fh, fw)) in {("words", (2, 32)), ("digits", (7, 7))}
    t, p, a = m.beam(x[:1], 3)
    assert t.shape == p.shape and a.shape == (t.shape[0], fh * fw)


def test_encoder_runs_once_per_image(monkeypatch):
    m = Recognizer(preset("digits")).eval()
    calls = []
    orig = m.encoder.forward
    monkeypatch.setattr(m.encoder, "forward", lambda x: calls.append(1) or orig(x))
    m.greedy(torch.randn(2, 3, 54, 54))
    assert len(calls) == 1


TINY = ModelConfig(name="tiny", charset="abcdefghij", max_len=6, img_h=16, img_w=48, widths=(16, 32),
                   convs=(1, 1), pools=((2, 2), (2, 2)), hidden=64, attn_dim=32, embed_dim=16, dropout=0.0)


def test_overfit_one_batch_then_read_back_greedy_and_beam():
    torch.manual_seed(0)
    m = Recognizer(TINY)
    texts = ["abc", "j", "hgfedc", "aa", "bij", "ee", "cafe", "dig"]
    x = torch.randn(len(texts), 1, 16, 48)
    y = m.tokenizer.encode(texts)
    opt = torch.optim.Adam(m.parameters(), 3e-3)
    for _ in range(400):
        loss = m.loss(m(x, y), y)
        opt.zero_grad(); loss.backward(); opt.step()
        if loss.item() < 0.01:
            break
    assert loss.item() < 0.05
    m.eval()
    toks, probs, _ = m.greedy(x)
    assert [m.tokenizer.decode_ids(t) for t in toks] == texts
    # decoding stops when every row has emitted EOS: no more steps than the longest text + 1
    assert toks.shape[1] == max(map(len, texts)) + 1
    for i, t in enumerate(texts):
        bt, bp, ba = m.beam(x[i:i + 1], 4)
        assert m.tokenizer.decode_ids(bt) == t
        assert bt[-1] == EOS and ba.shape[0] == len(t) + 1


def test_loss_is_plain_cross_entropy_on_logits():
    """Softmax is applied once, inside the loss: logits are unnormalized."""
    m = Recognizer(TINY).eval()
    x = torch.randn(2, 1, 16, 48)
    y = m.tokenizer.encode(["ab", "c"])
    logits = m(x, y)
    ref = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=m.tokenizer.pad)
    assert torch.allclose(m.loss(logits, y), ref)
    assert not torch.allclose(logits.exp().sum(-1), torch.ones(2, 3))


def test_decoding_stops_at_the_first_end_token():
    """Whatever a decoder emits after its first EOS (another EOS, characters, padding) is not read."""
    import numpy as np
    from ocr import TextRecognizer

    tok = Tokenizer(preset("digits").charset)
    c = [tok.charset.index(x) + 1 for x in "4271"]
    assert tok.decode_ids([c[0], c[1], EOS, c[2], EOS, c[3]]) == "42"
    rec = TextRecognizer(Recognizer(preset("digits")))
    fh, fw = rec.cfg.feat_hw
    probs = torch.tensor([0.9, 0.8, 0.7, 0.1, 0.2, 0.3])
    p = rec._prediction(torch.tensor([c[0], c[1], EOS, c[2], EOS, c[3]]), probs, torch.rand(6, fh * fw))
    assert p.text == "42" and p.char_confidences == pytest.approx([0.9, 0.8])
    assert p.confidence == pytest.approx(0.9 * 0.8 * 0.7)              # EOS included, nothing after it
    assert p.attention.shape == (3, fh, fw)
    assert np.isfinite(p.attention).all()
