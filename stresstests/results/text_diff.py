"""Original vs perturbed text for the result pages: the diff as pieces a template renders (and escapes) one by one.

Changed characters are marked; characters a reader cannot see (zero-width, control, odd spaces) become named badges
such as ⟨ZWSP⟩ or ⟨BS⟩ so that an invisible-character attack is visible; non-ASCII characters inside a change carry
their Unicode name (a Cyrillic а looks exactly like a Latin a). Long unchanged stretches are shortened around the
changes, with the full texts a click away (drawn the same way, so a RIGHT-TO-LEFT OVERRIDE never reverses the page).
The diff itself comes from the example (`diff`, stored once by the engine) when it fits the texts; older reports are
diffed here, on words, which stays fast on long texts.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from stresstests.engine.categories.text.perturbation import diff_segments, opcodes_from_changes

CONTEXT = 80             # unchanged characters kept on each side of a change
BADGES = {"\u200b": "ZWSP", "\u200c": "ZWNJ", "\u200d": "ZWJ", "\u2060": "WJ", "\ufeff": "BOM", "\u00ad": "SHY",
          "\u00a0": "NBSP", "\x08": "BS", "\x7f": "DEL", "\t": "TAB", "\n": "LF", "\r": "CR", "\x00": "NUL",
          "\x1b": "ESC", "\u202e": "RLO", "\u202d": "LRO", "\u200e": "LRM", "\u200f": "RLM"}


@dataclass
class Piece:
    text: str = ""
    changed: bool = False
    badge: str = ""          # shown as ⟨badge⟩ instead of the invisible character
    title: str = ""          # the character's Unicode name, or how many characters an ellipsis hides
    elided: bool = False


@dataclass
class TextDiff:
    original: list[Piece] = field(default_factory=list)
    perturbed: list[Piece] = field(default_factory=list)
    shortened: bool = False
    full_original: list[Piece] = field(default_factory=list)      # filled when shortened
    full_perturbed: list[Piece] = field(default_factory=list)

    @property
    def sides(self) -> list[tuple[str, str, list[Piece]]]:
        """(label, the HTML element of a change, pieces) per line."""
        return [("Original", "del", self.original), ("Perturbed", "ins", self.perturbed)]

    @property
    def full_texts(self) -> list[list[Piece]]:
        return [self.full_original, self.full_perturbed]


CONTROL_NAMES = {"\x00": "NULL", "\x08": "BACKSPACE", "\t": "CHARACTER TABULATION", "\n": "LINE FEED",
                 "\r": "CARRIAGE RETURN", "\x1b": "ESCAPE", "\x7f": "DELETE"}


def character_name(char: str) -> str:
    name = CONTROL_NAMES.get(char) or unicodedata.name(char, "") or (
        "control character" if unicodedata.category(char) == "Cc" else "unnamed character")
    return f"U+{ord(char):04X} {name}"


def _invisible(char: str) -> bool:
    return char in BADGES or unicodedata.category(char) in ("Cc", "Cf", "Co", "Cn", "Zl", "Zp") or (
        unicodedata.category(char) == "Zs" and char != " ")


def _joins_emoji(text: str, position: int) -> bool:
    """A ZERO WIDTH JOINER between two symbols (emoji, or an emoji and its modifier): part of one emoji sequence."""
    return (text[position] == "\u200d" and 0 < position < len(text) - 1
            and unicodedata.category(text[position - 1]) in ("So", "Sk")
            and unicodedata.category(text[position + 1]) in ("So", "Sk"))


def pieces(text: str, changed: bool) -> list[Piece]:
    """`text` split so each invisible character (anywhere) and each non-ASCII character of a change is its own piece;
    combining marks stay with their letter, and joiners inside emoji sequences stay as they are."""
    result: list[Piece] = []
    joined = False
    for position, char in enumerate(text):
        if (joined or unicodedata.combining(char) or char == "\ufe0f" or (unicodedata.category(char) == "Sk" and not char.isascii())
                or _joins_emoji(text, position)) and result and not result[-1].badge:
            # Part of the character before it (an accent, an emoji's joiner, modifier or next member): same piece.
            result[-1].text += char
            if changed:
                result[-1].title = "; ".join(filter(None, [result[-1].title, character_name(char)]))
            joined = _joins_emoji(text, position)
        elif _invisible(char):
            result.append(Piece(char, changed, BADGES.get(char, f"U+{ord(char):04X}"), character_name(char)))
        elif changed and not char.isascii():
            result.append(Piece(char, changed, "", character_name(char)))
        elif result and not result[-1].badge and not result[-1].title:
            result[-1].text += char
        else:
            result.append(Piece(char, changed))
    return result


def _shorten(text: str, first: bool, last: bool) -> tuple[list[Piece], bool]:
    """An unchanged stretch: kept whole when short, else only CONTEXT characters next to the changes."""
    head = "" if first else text[:CONTEXT]
    tail = "" if last else text[-CONTEXT:]
    if len(text) <= len(head) + len(tail) + 20:
        return pieces(text, False), False
    hidden = len(text) - len(head) - len(tail)
    return [*pieces(head, False), Piece("…", elided=True, title=f"{hidden} unchanged characters"),
            *pieces(tail, False)], True


def text_diff(original: str, perturbed: str, changes: list | None = None) -> TextDiff:
    """The diff of the pair; `changes` is the example's stored `diff` (used when it fits the texts)."""
    diff = TextDiff()
    original, perturbed = str(original), str(perturbed)
    opcodes = opcodes_from_changes(original, perturbed, changes) if isinstance(changes, list) else None
    segments = diff_segments(original, perturbed, opcodes)
    for position, (operation, before, after) in enumerate(segments):
        if operation == "equal":
            shown, shortened = _shorten(before, position == 0, position == len(segments) - 1)
            diff.original += shown
            diff.perturbed += [Piece(p.text, p.changed, p.badge, p.title, p.elided) for p in shown]
            diff.shortened |= shortened
        else:
            diff.original += pieces(before, True)
            diff.perturbed += pieces(after, True)
    if diff.shortened:
        diff.full_original, diff.full_perturbed = pieces(original, False), pieces(perturbed, False)
    return diff
