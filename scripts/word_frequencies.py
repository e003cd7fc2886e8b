#!/usr/bin/env python
"""Write the word-frequency list of the v4 word engine (data/synth/word_frequencies.tsv).

    pip install wordfreq==3.1.1
    python scripts/word_frequencies.py data/synth/word_frequencies.tsv

One line per word, `word<TAB>zipf`, most frequent first: the English words of wordfreq's 50,000 most
frequent that are letters only, with their Zipf frequency (log10 of uses per billion words, two
decimals). The v4 engine (ocr.synth) draws most of its lexicon words from this list in proportion to
frequency ** FREQUENT_EXPONENT, so that synthetic text follows the word distribution of real signs
instead of a uniform draw from a 73,000-word dictionary. wordfreq's data is CC BY-SA 4.0
(data/synth/word_frequencies.LICENSE); this script is only needed to make the file again.
"""
from __future__ import annotations

import argparse
import re
import sys
from importlib.metadata import version
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path, help="the .tsv to write")
    p.add_argument("--top", type=int, default=50_000, help="words of wordfreq's list to look at (default 50000)")
    args = p.parse_args(argv)
    try:
        import wordfreq
    except ImportError:
        print("error: this needs the wordfreq package (pip install wordfreq==3.1.1)", file=sys.stderr)
        return 1
    words = [w for w in wordfreq.top_n_list("en", args.top) if re.fullmatch("[a-z]+", w)]
    lines = [f"{w}\t{wordfreq.zipf_frequency(w, 'en'):.2f}" for w in words]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(lines)} words (wordfreq {version('wordfreq')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
