"""One colour and marker per strategy, the same in every figure.

Known strategies own fixed slots, so a strategy keeps its look across runs too; others (and parameter variants
such as 'autoal(temperature=0.5)') take the next free slots in alphabetical order. Random, the reference, is a
dashed dark grey line; an oracle, a ceiling rather than a competitor, a dotted black one without markers.
"""

from __future__ import annotations

from matplotlib import colormaps

from ..roles import is_oracle
from .aggregate import REFERENCE

KNOWN = ["entropy", "margin", "least-confidence", "autoal", "vote", "vote-random", "kmeans", "bald", "var-ratio",
         "mean-std", "coreset", "badge"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
BEST_SINGLE = {"color": "0.6", "linestyle": (0, (6, 3)), "linewidth": 1.3}  # the best single strategy's curve


def palette() -> list:
    """tab10 without its grey (random's colour), then the darker half of tab20b."""
    tab10 = [c for i, c in enumerate(colormaps["tab10"].colors) if i != 7]
    return tab10 + list(colormaps["tab20b"].colors[::2])


def styles(names) -> dict[str, dict]:
    """Plot keyword arguments (color, marker, linestyle) for each name."""
    colours = palette()
    slots = {name: i for i, name in enumerate(KNOWN)}
    free = (i for i in range(len(KNOWN), 10_000))
    out = {}
    for name in sorted(set(names)):
        if name == REFERENCE:
            out[name] = {"color": "#333333", "marker": "o", "linestyle": "--"}
            continue
        if is_oracle(name):
            out[name] = {"color": "black", "marker": "", "linestyle": ":"}
            continue
        slot = slots[name] if name in slots else next(free)
        out[name] = {"color": colours[slot % len(colours)], "marker": MARKERS[slot % len(MARKERS)], "linestyle": "-"}
    return out
