"""The text pipeline shared by text files and `synthetic_text`: tokenize, build a vocabulary from the
training part, turn texts into fixed-length rows of token ids.

Ids: 0 is padding, 1 an unknown token (one not in the vocabulary), then the training part's tokens from
the most to the least frequent (ties alphabetical, so the vocabulary does not depend on row order).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
TOKENIZERS = ("word", "char")
_WORD = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str, tokenizer: str = "word", lowercase: bool = True) -> list[str]:
    """`word`: words (with inner apostrophes) and single punctuation marks; `char`: characters."""
    if lowercase:
        text = text.lower()
    if tokenizer == "char":
        return list(text)
    return _WORD.findall(text)


def build_vocabulary(token_lists: Iterable[Sequence[str]], vocab_size: int) -> list[str]:
    """Id → token: the two special tokens, then the most frequent tokens, `vocab_size` in all."""
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [PAD, UNK] + [tok for tok, _ in ranked[: max(0, vocab_size - 2)]]


def encode(token_lists: Sequence[Sequence[str]], vocabulary: Sequence[str], seq_len: int,
           padding: str = "pre") -> np.ndarray:
    """int64 N×seq_len token ids. Texts longer than `seq_len` keep their first tokens; shorter ones are
    padded with 0 before the text (`pre`, so a recurrent layer's last step sees the text's end) or after
    it (`post`)."""
    index = {tok: i for i, tok in enumerate(vocabulary)}
    out = np.zeros((len(token_lists), seq_len), dtype=np.int64)
    for row, tokens in enumerate(token_lists):
        ids = [index.get(t, UNK_ID) for t in tokens[:seq_len]]
        if not ids:
            continue
        if padding == "pre":
            out[row, seq_len - len(ids):] = ids
        else:
            out[row, : len(ids)] = ids
    return out


def decode(ids: Iterable[int], vocabulary: Sequence[str], tokenizer: str = "word") -> str:
    """Token ids back to text, padding left out (previews)."""
    tokens = [vocabulary[i] if 0 <= i < len(vocabulary) else UNK for i in ids if i != PAD_ID]
    return ("" if tokenizer == "char" else " ").join(tokens)
