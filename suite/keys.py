"""How a cell key spells a decoding temperature: the one definition, used by the key itself and by
every reader that refuses two temperatures a key could not tell apart."""

from __future__ import annotations


def temperature_key(tau: float) -> str:
    """``t`` and τ to 6 significant digits (``t0.7``, ``t1e+06``); ``+ 0.0`` turns -0.0 into 0.0:
    one key, and one computation, for greedy decoding. Lossy: 1.0 and 1.0000001 are both ``t1``."""
    return f"t{tau + 0.0:g}"
