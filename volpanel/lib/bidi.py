"""Names from tenants in places that hold text only (<title>, <option>): isolated with Unicode's own isolate
marks, as <bdi> isolates them elsewhere, so a bidi override inside a name cannot reorder the text after it."""

from __future__ import annotations

from typing import Any

FSI, PDI = "\u2068", "\u2069"  # first-strong isolate, pop directional isolate
ISOLATE_OPENERS = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI
# Every character that changes the direction of the text around it: marks, embeddings, overrides, isolates.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def isolate(text: Any) -> str:
    """The text as it is when it has no bidi control; else inside FSI … PDI. A PDI ends every embedding and
    override opened inside its isolate, so an override in the name stops at the name's end. A PDI of the name's
    own with no isolate to close would close ours early: it is dropped; isolates the name leaves open are
    closed."""
    text = str(text)
    if not BIDI_CONTROLS.intersection(text):
        return text
    kept, open_isolates = [], 0
    for char in text:
        if char in ISOLATE_OPENERS:
            open_isolates += 1
        elif char == PDI:
            if not open_isolates:
                continue
            open_isolates -= 1
        kept.append(char)
    return FSI + "".join(kept) + PDI * open_isolates + PDI

