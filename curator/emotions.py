"""Expression class names: the spellings different data sets use for the same expression.

`canonical` turns a class name into RAF-DB's spelling (surprise, fear, disgust, happiness, sadness,
anger, neutral) where it is a known alias (`happy`, `angry`, `Sad`, ...), and lower-cases any
other name, so classes of two data sets can be matched by their canonical names.
"""

from __future__ import annotations

ALIASES = {"surprised": "surprise", "fearful": "fear", "afraid": "fear", "disgusted": "disgust",
           "happy": "happiness", "sad": "sadness", "angry": "anger"}


def canonical(name: str) -> str:
    """The canonical spelling of an expression class name."""
    key = name.strip().lower()
    return ALIASES.get(key, key)
