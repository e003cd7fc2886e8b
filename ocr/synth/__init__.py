"""Synthetic training data: one word engine and one house-number engine, pure functions of (seed, index).

    from ocr.synth import WordSynth, DigitSynth, SynthConfig
    WordSynth(charset, seed=1)[i]                 # (image, text), the default preset (the shipped model's)
    WordSynth(charset, engine="v4")               # a named preset (SYNTH_PRESETS) or a SynthConfig
    DigitSynth(seed=1)[i], DigitSynth(seed=1).scene(i)

words (the word engine and its SynthConfig), digits (house numbers), render (what both draw with), fonts (which
font draws which character legibly), textures (real-photo backgrounds), strokes (hand-painted digits), scenes (real
crops pasted into photos, to measure reading whole photos). Reading a model (`ocr.recognizer`) needs none of this.
"""
from .digits import SVHN_LENGTH_FREQ, DigitSynth
from .words import (DEFAULT_ENGINE, FREQUENT_WORDS, LEXICON, SYNTH_PRESETS, SynthConfig, WordSynth, frequent_words,
                    load_lexicon, synth_config)

__all__ = ["DEFAULT_ENGINE", "FREQUENT_WORDS", "LEXICON", "SVHN_LENGTH_FREQ", "SYNTH_PRESETS", "DigitSynth",
           "SynthConfig", "WordSynth", "frequent_words", "load_lexicon", "synth_config"]
