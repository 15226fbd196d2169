"""Phrases the conversation says in several places, so it says them one way everywhere."""

from __future__ import annotations

_INNER = str.maketrans({"“": "‘", "”": "’"})


def quoted(text: str) -> str:
    """“text”, with quotes inside it turned single (“OD plan for a ‘one team’ mindset”), never nested."""
    return f"“{text.strip().translate(_INNER)}”"


def answered_phrase(answered: int, total: int, skipped: int = 0) -> str:
    """'7 of 21 answered', '7 of 21 answered (2 skipped)': scored questions only, as the review counts."""
    also = f" ({skipped} skipped)" if skipped else ""
    return f"{answered} of {total} answered{also}"
