"""How random a value looks: Shannon entropy against a threshold for its own alphabet, and the
shapes of documentation placeholders.

The secrets scanner guesses in one place only, a long value assigned to a secret-sounding name,
and these decide the guess. A threshold must depend on the alphabet and the length: 32 random
hex characters score about 3.7 bits (at most 4), 32 random base64 characters about 4.6, and no
string of 16 characters can score more than 4. Pure functions.
"""

from __future__ import annotations

import math
import re

_HEX = re.compile(r"^[0-9a-fA-F]+$")


def is_filler(value: str, *, walks: bool = False) -> bool:
    """A documentation placeholder, not a key: 8 identical characters in a row, one character
    making up half the value, or (`walks`) an alphabet walk like `123456` or `abcdef`. A random
    token of the lengths these rules match almost never does any of these. Walks are left to
    the entropy rule: provider formats embed account numbers that may well contain `123456`.
    """
    if _RUN.search(value):
        return True
    if value and max(value.count(ch) for ch in set(value)) * 2 > len(value):
        return True
    return walks and any(seq in value for seq in _SEQUENCES)


_RUN = re.compile(r"(.)\1{7}")
_SEQUENCES = frozenset(
    alphabet[i : i + 6]
    for alphabet in ("0123456789", "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    for i in range(len(alphabet) - 5)
)


def shannon_entropy(value: str) -> float:
    """Bits per character of `value`'s own character distribution."""
    n = len(value)
    counts: dict[str, int] = {}
    for ch in value:
        counts[ch] = counts.get(ch, 0) + 1
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def entropy_threshold(value: str) -> float | None:
    """The entropy a random value of this alphabet and length clears, or None: never a secret.

    Hex (16 symbols, at most 4 bits) needs 3.0; other alphabets need 80% of what the length
    allows, capped at 4.0 (a random 32-character base64 string scores about 4.6).
    """
    if value.isdigit():
        return None
    if _HEX.match(value):
        return 3.0
    classes = sum(
        (any(c.islower() for c in value), any(c.isupper() for c in value),
         any(c.isdigit() for c in value))
    )  # fmt: skip
    if classes < 2:
        return None
    return min(4.0, 0.8 * math.log2(len(value)))
