"""Token budgets: what fits in a model's context, counted with the model's own tokenizer.

Every prompt Tidings sends is assembled here piece by piece, measuring the *rendered* prompt
(chat template or completion text) after each addition, so instructions + question +
conversation + sources + reserved answer tokens never exceed ``n_ctx``. Nothing is cut blindly:
text that must shrink is shortened at sentence boundaries, and callers learn what was left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.text import SENTENCE_BREAK

Counter = Callable[[str], int]

def answer_reserve(n_ctx: int, max_answer_tokens: int) -> int:
    """Tokens kept free for the answer: the configured maximum, at most a quarter of a small
    context (a 512-token model still needs room to read its sources)."""
    return max(16, min(max_answer_tokens, n_ctx // 4))


@dataclass(frozen=True)
class Fitted:
    text: str
    tokens: int
    shortened: bool


def shorten_to_fit(text: str, limit: int, count: Counter, *, keep_end: bool = False) -> Fitted:
    """The longest prefix (or suffix, with ``keep_end``) of whole sentences that fits in
    ``limit`` tokens; a single over-long sentence falls back to whole words, then characters."""
    tokens = count(text)
    if tokens <= limit:
        return Fitted(text, tokens, False)
    if limit <= 0:
        return Fitted("", 0, True)
    pieces = [p for p in SENTENCE_BREAK.split(text) if p.strip()]
    if keep_end:
        pieces.reverse()
    kept: list[str] = []
    for piece in pieces:
        candidate = _join([*kept, piece], keep_end)
        if count(candidate + " …") > limit:
            break
        kept.append(piece)
    if not kept:
        words = text.split()
        if keep_end:
            words.reverse()
        for word in words:
            candidate = _join([*kept, word], keep_end, sep=" ")
            if count(candidate + " …") > limit:
                break
            kept.append(word)
        fitted = _join(kept, keep_end, sep=" ")
        if not kept:
            # One enormous "word": fall back to characters, proportionally, then trim.
            fitted = text[-limit:] if keep_end else text[:limit]
            while fitted and count(fitted + " …") > limit:
                fitted = fitted[len(fitted) // 10 + 1 :] if keep_end else fitted[: -(len(fitted) // 10 + 1)]
    else:
        fitted = _join(kept, keep_end)
    fitted = f"… {fitted}" if keep_end else f"{fitted} …"
    return Fitted(fitted, count(fitted), True)


def _join(pieces: Sequence[str], reverse: bool, sep: str = " ") -> str:
    ordered = list(reversed(pieces)) if reverse else list(pieces)
    return sep.join(p.strip() for p in ordered)


def fits(prompt_tokens: int, n_ctx: int, reserve: int) -> bool:
    return prompt_tokens + reserve <= n_ctx
