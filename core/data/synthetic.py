"""Small data sets the project generates (seeded, so the same options give the same data), for the text,
sequence, signal and forecasting templates:

- `synthetic_text`: two-class short reviews ("the acting was wonderful ...", "the plot felt dull ...")
  from word lists, through the same tokenizer as text files: int64 ids of `seq_len` (64).
- `synthetic_sequences`: T×F (50×8) noisy multichannel sequences; the class (4) is the frequency they follow.
- `synthetic_waveforms`: 1×128 signals; the class is the wave shape: sine, square, sawtooth, triangle.
- `sine`: a noisy sine for forecasting: windows of `window` (30) steps → the next `horizon` (1) values.
- `long_memory`: `seq_len` (50) words; the label is the FIRST word only, the rest is noise (the lesson of
  why gated cells exist: a simple RNN forgets the first word over 50 steps, a GRU keeps it).

Options they all take: `n` (samples; `length` of the series for `sine`), `noise`, `data_seed` (the data
itself; the split uses the training seed).
"""

from __future__ import annotations

import numpy as np

from layerloom.core.data.base import CLASSIFICATION, REGRESSION, SEQUENCE, SERIES, SIGNAL, TEXT
from layerloom.core.data.options import Options
from layerloom.core.data.prepare import Raw

_SUBJECTS = ("the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending", "the story",
             "the cast", "the director", "the pacing", "the dialogue", "the script", "the camera work", "the show",
             "the second half", "the lead actor", "the book", "the series", "this sequel", "the music")
_VERBS = ("was", "is", "felt", "seemed", "turned out to be", "looked", "sounded", "became")
_INTENSIFIERS = ("", "", "really", "very", "quite", "truly", "so", "absolutely", "rather", "incredibly")
_POSITIVE = ("wonderful", "great", "brilliant", "moving", "delightful", "superb", "charming", "excellent",
             "funny", "beautiful", "gripping", "clever", "fresh", "touching", "stunning", "fantastic", "enjoyable",
             "powerful", "smart", "memorable", "perfect", "lovely", "thrilling", "inspiring", "solid")
_NEGATIVE = ("boring", "awful", "dull", "terrible", "predictable", "bland", "weak", "messy", "tedious", "poor",
             "clumsy", "lifeless", "forgettable", "painful", "silly", "confusing", "flat", "annoying",
             "disappointing", "bad", "slow", "shallow", "stale", "lazy", "ugly")
_FILLERS = ("i watched it with my friends", "we saw it last weekend", "on a rainy sunday", "after a long day",
            "with the whole family", "at the local cinema", "on a long flight", "during the holidays",
            "for the second time", "late at night", "with my sister", "after reading the reviews")
_POS_ENDINGS = ("i would watch it again", "highly recommended", "worth every minute", "a real treat",
                "i loved it", "ten out of ten")
_NEG_ENDINGS = ("i want my money back", "not recommended", "a waste of time", "i almost fell asleep",
                "skip this one", "never again")


# long_memory's words: the first `classes` are the keys (one per class), the next ones the noise words.
_WORDS = ("red", "green", "blue", "gold", "pink", "grey", "lime", "teal", "navy", "plum", "rust", "jade", "ruby",
          "sand", "snow", "ink", "mint", "rose", "wine", "clay", "moss", "sky", "sun", "ash", "oak", "tan")


def _rng(opts: Options) -> np.random.Generator:
    return np.random.default_rng(opts.integer("data_seed", 0, 0, 2**32 - 1))


def synthetic_text(opts: Options) -> Raw:
    """Short positive and negative reviews (2 classes)."""
    n = opts.integer("n", 2000, 10, 1_000_000)
    noise = opts.number("noise", 0.1, 0.0, 1.0)  # share of reviews that also praise/blame a second thing
    rng = _rng(opts)
    texts, labels = [], rng.integers(0, 2, n)
    for label in labels:
        good, bad = (_POSITIVE, _NEGATIVE) if label else (_NEGATIVE, _POSITIVE)
        parts = [f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_INTENSIFIERS)} {rng.choice(good)}"]
        if rng.random() < 0.6:
            parts.append(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(good)} and {rng.choice(good)}")
        if rng.random() < noise:
            parts.append(f"only {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(bad)}")
        if rng.random() < 0.5:
            parts.insert(int(rng.integers(0, len(parts) + 1)), str(rng.choice(_FILLERS)))
        if rng.random() < 0.5:
            parts.append(str(rng.choice(_POS_ENDINGS if label else _NEG_ENDINGS)))
        texts.append(" ".join(" ".join(parts).split()) + ".")
    notes = [f"{n:,} generated reviews from word lists, positive or negative"]
    return Raw(TEXT, texts, labels.astype(np.int64), CLASSIFICATION, "synthetic_text", ["negative", "positive"],
               notes, where="synthetic_text")


def synthetic_sequences(opts: Options) -> Raw:
    """T×F sequences; class k follows one of 4 frequencies in every feature, with random phase, amplitude
    and noise."""
    n = opts.integer("n", 1200, 8, 1_000_000)
    steps = opts.integer("length", 50, 4, 100_000)
    feats = opts.integer("features", 8, 1, 1024)
    noise = opts.number("noise", 0.5, 0.0, 100.0)
    rng = _rng(opts)
    cycles = np.array([1.0, 2.0, 3.0, 5.0])
    labels = rng.integers(0, len(cycles), n)
    t = np.arange(steps) / steps
    phase = rng.uniform(0, 2 * np.pi, (n, 1, feats))
    amp = rng.uniform(0.5, 1.5, (n, 1, feats))
    x = amp * np.sin(2 * np.pi * cycles[labels][:, None, None] * t[None, :, None] + phase)
    x += rng.normal(0, noise, x.shape)
    names = [f"{c:g} cycles" for c in cycles]
    notes = [f"{n:,} generated sequences of {steps}×{feats}: the class is the frequency they follow"]
    return Raw(SEQUENCE, x.astype(np.float32), labels.astype(np.int64), CLASSIFICATION, "synthetic_sequences", names,
               notes, where="synthetic_sequences")


def synthetic_waveforms(opts: Options) -> Raw:
    """1×L signals of four wave shapes (sine, square, sawtooth, triangle) with noise."""
    n = opts.integer("n", 1200, 8, 1_000_000)
    length = opts.integer("length", 128, 8, 1_000_000)
    noise = opts.number("noise", 0.2, 0.0, 100.0)
    rng = _rng(opts)
    labels = rng.integers(0, 4, n)
    t = np.arange(length) / length
    cycles = rng.uniform(2, 6, (n, 1))
    phase = rng.uniform(0, 1, (n, 1))
    u = (cycles * t[None] + phase) % 1.0  # position within a period, 0..1
    waves = np.stack([np.sin(2 * np.pi * u), np.where(u < 0.5, 1.0, -1.0), 2 * u - 1, 1 - 4 * np.abs(u - 0.5)])
    x = waves[labels, np.arange(n)] * rng.uniform(0.5, 1.5, (n, 1)) + rng.uniform(-0.2, 0.2, (n, 1))
    x += rng.normal(0, noise, x.shape)
    notes = [f"{n:,} generated signals of {length} steps: the class is the wave shape"]
    return Raw(SIGNAL, x[:, None, :].astype(np.float32), labels.astype(np.int64),
               CLASSIFICATION, "synthetic_waveforms", ["sine", "square", "sawtooth", "triangle"], notes,
               where="synthetic_waveforms")


def sine(opts: Options) -> Raw:
    """A noisy sine with a period of 40 steps, for forecasting."""
    length = opts.integer("length", 1000, 8, 10_000_000)
    noise = opts.number("noise", 0.1, 0.0, 100.0)
    period = opts.number("period", 40.0, 2.0, 1e9)
    rng = _rng(opts)
    t = np.arange(length)
    series = np.sin(2 * np.pi * t / period) + rng.normal(0, noise, length)
    notes = [f"a noisy sine (period {period:g} steps, noise {noise:g}) of {length:,} steps"]
    return Raw(SERIES, series, None, REGRESSION, "sine", None, notes, where="sine")


def long_memory(opts: Options) -> Raw:
    """`seq_len` words whose label is the FIRST word, one of `classes` key words; the words after it are
    noise drawn from the other `vocab_size` − 2 − `classes` words, so only the first word tells."""
    n = opts.integer("n", 2000, 10, 1_000_000)
    seq_len = opts.integer("seq_len", 50, 2, 100_000)
    opts.values["seq_len"] = seq_len  # the text pipeline then neither pads nor cuts: exactly seq_len ids
    n_words = opts.integer("vocab_size", 7, 5, len(_WORDS) + 2) - 2  # counted as the pipeline does: <pad>, <unk>
    n_classes = opts.integer("classes", 2, 2, n_words - 1)
    rng = _rng(opts)
    labels = rng.integers(0, n_classes, n)
    noise = rng.integers(n_classes, n_words, (n, seq_len - 1))
    words = np.array(_WORDS[:n_words])
    texts = [" ".join([_WORDS[label], *words[row]]) for label, row in zip(labels, noise, strict=True)]
    keys = ", ".join(_WORDS[:n_classes])
    notes = [f"{n:,} generated sequences of {seq_len} words: the label is the FIRST word ({keys}); the other "
             f"{seq_len - 1} are noise ({', '.join(_WORDS[n_classes:n_words])}) that never changes the label"]
    return Raw(TEXT, texts, labels.astype(np.int64), CLASSIFICATION, "long_memory", list(_WORDS[:n_classes]),
               notes, where="long_memory")
