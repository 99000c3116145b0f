"""String perturbations of the text tests: character and word edits, invisible and look-alike characters, word swaps.

Pure functions of (text, rng, params): no model, no Context. The word lists they draw on ship as JSON files in
`wordlists/` (editable; a run overrides them through the test's params) and load once per process.
Also here: `changed_spans`, the character spans an edit changed, which the examples carry and the results pages
highlight.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np

WORDLISTS = Path(__file__).with_name("wordlists")
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")          # letters, with an inner apostrophe (don't, it's)
SPECIAL = re.compile(r"[^\w\s]")
PUNCTUATION = ".,;:!?"

ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
# "Bad characters" deletion attack: a character followed by a control character that erases it when displayed
# (BACKSPACE) or that renders as nothing (DELETE): the text looks unchanged but the model sees other bytes.
DELETION_CONTROLS = ("\x08", "\x7f")

# Letters that look identical to a Latin letter (Unicode's "intentional" confusables: Cyrillic and Greek twins).
INTENTIONAL_HOMOGLYPHS = {
    "a": "\u0430", "c": "\u0441", "e": "\u0435", "o": "\u043e", "p": "\u0440", "x": "\u0445", "y": "\u0443",
    "i": "\u0456", "j": "\u0458", "s": "\u0455", "h": "\u04bb", "d": "\u0501", "q": "\u051b", "w": "\u051d",
    "A": "\u0410", "B": "\u0412", "C": "\u0421", "E": "\u0415", "H": "\u041d", "I": "\u0406", "J": "\u0408",
    "K": "\u041a", "M": "\u041c", "N": "\u039d", "O": "\u041e", "P": "\u0420", "S": "\u0405", "T": "\u0422",
    "X": "\u0425", "Y": "\u03a5", "Z": "\u0396",
}
# Letters that a reader easily takes for a Latin letter (Unicode confusables beyond the exact twins).
CONFUSABLE_HOMOGLYPHS = {
    "a": "\u0251", "b": "\u042c", "d": "\u0501", "e": "\u04bd", "g": "\u0261", "h": "\u0570", "i": "\u0131",
    "k": "\u03ba", "l": "\u04cf", "n": "\u0578", "o": "\u03bf", "r": "\u0433", "u": "\u03c5", "v": "\u03bd",
    "w": "\u0461", "y": "\u04af", "A": "\u0391", "B": "\u0392", "E": "\u0395", "H": "\u0397", "K": "\u039a",
    "M": "\u039c", "O": "\u039f", "P": "\u03a1", "T": "\u03a4", "X": "\u03a7",
}
_KEYBOARD_ROWS = ("1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm")
# Characters OCR confuses (after nlpaug's OCR map).
OCR_ERRORS = {
    "0": "8O", "1": "l7", "2": "z", "5": "S", "6": "b", "8": "B", "9": "g", "o": "0", "O": "0D", "l": "1I",
    "I": "1l", "i": "1l", "g": "9q", "q": "9", "z": "2", "Z": "2", "s": "5", "S": "5", "b": "6", "B": "8",
    "e": "c", "c": "e", "m": "n", "D": "O", "t": "f", "h": "b",
}


# ---- word lists ---------------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def wordlist(name: str) -> dict:
    """One of the shipped JSON word lists (wordlists/<name>.json)."""
    return json.loads((WORDLISTS / f"{name}.json").read_text(encoding="utf-8"))


def synonym_table(groups: list[list[str]] | None = None) -> dict[str, list[str]]:
    """word (lower case) -> its synonyms, from the shipped groups or `groups` (a run's override)."""
    table: dict[str, list[str]] = {}
    for group in groups if groups is not None else wordlist("synonyms")["groups"]:
        words = [w.lower() for w in group]
        for word in words:
            table.setdefault(word, [])
            table[word] += [other for other in words if other != word and other not in table[word]]
    return table


def misspelling_table(override: dict | None = None) -> dict[str, list[str]]:
    table = override if override is not None else wordlist("misspellings")["misspellings"]
    return {word.lower(): list(wrong) for word, wrong in table.items()}


# ---- helpers ------------------------------------------------------------------------------------------------------
def _how_many(count: int, share: float) -> int:
    """At least one, as nlpaug does: a 5 % rate on a short text still makes one change."""
    return min(count, max(1, int(round(share * count))))


def _pick(count: int, share: float, rng: np.random.Generator) -> list[int]:
    if count <= 0:
        return []
    return sorted(rng.choice(count, size=_how_many(count, share), replace=False).tolist())


def match_case(word: str, template: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def replace_spans(text: str, replacements: list[tuple[int, int, str]]) -> str:
    pieces, position = [], 0
    for start, end, new in sorted(replacements):
        pieces += [text[position:start], new]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


def _words(text: str, min_char: int = 1) -> list[re.Match]:
    return [m for m in WORD.finditer(text) if len(m.group()) >= min_char]


# ---- character edits inside words (nlpaug's char augmenters: aug_word_p of the words, aug_char_p of their chars) --
def _edit_words(text: str, rng: np.random.Generator, params: dict,
                edit: Callable[[str, list[int], np.random.Generator], str]) -> str:
    words = _words(text, int(params.get("min_char", 2)))
    chosen = _pick(len(words), float(params.get("aug_word_p", 0.05)), rng)
    replacements = []
    for index in chosen:
        word = words[index].group()
        positions = _pick(len(word), float(params.get("aug_char_p", 0.03)), rng)
        replacements.append((words[index].start(), words[index].end(), edit(word, positions, rng)))
    return replace_spans(text, replacements)


def _random_letter(rng: np.random.Generator, like: str) -> str:
    letter = "abcdefghijklmnopqrstuvwxyz"[int(rng.integers(26))]
    return letter.upper() if like.isupper() else letter


def char_substitution(text: str, rng: np.random.Generator, params: dict) -> str:
    def edit(word, positions, rng):
        chars = list(word)
        for p in positions:
            new = _random_letter(rng, chars[p])
            while new.lower() == chars[p].lower():
                new = _random_letter(rng, chars[p])
            chars[p] = new
        return "".join(chars)
    return _edit_words(text, rng, params, edit)


def char_deletion(text: str, rng: np.random.Generator, params: dict) -> str:
    def edit(word, positions, rng):
        return "".join(c for i, c in enumerate(word) if i not in set(positions))
    return _edit_words(text, rng, params, edit)


def char_insertion(text: str, rng: np.random.Generator, params: dict) -> str:
    def edit(word, positions, rng):
        return "".join(c + (_random_letter(rng, c) if i in set(positions) else "") for i, c in enumerate(word))
    return _edit_words(text, rng, params, edit)


def char_swap(text: str, rng: np.random.Generator, params: dict) -> str:
    def edit(word, positions, rng):
        chars = list(word)
        for p in positions:
            q = p + 1 if p + 1 < len(chars) else p - 1
            if chars[p] == chars[q]:   # swapping equal letters changes nothing: try the other neighbour
                q = p - 1 if q == p + 1 and p > 0 else q
            chars[p], chars[q] = chars[q], chars[p]
        return "".join(chars)
    return _edit_words(text, rng, params, edit)


@lru_cache(maxsize=1)
def _keyboard_neighbours() -> dict[str, str]:
    grid = {c: (r, i) for r, row in enumerate(_KEYBOARD_ROWS) for i, c in enumerate(row)}
    return {c: "".join(o for o, (r2, i2) in grid.items() if o != c and abs(r2 - r) <= 1 and abs(i2 - i) <= 1)
            for c, (r, i) in grid.items()}


def keyboard_typo(text: str, rng: np.random.Generator, params: dict) -> str:
    neighbours = _keyboard_neighbours()

    def edit(word, positions, rng):
        chars = list(word)
        for p in positions:
            options = neighbours.get(chars[p].lower())
            if options:
                new = options[int(rng.integers(len(options)))]
                chars[p] = new.upper() if chars[p].isupper() else new
        return "".join(chars)
    return _edit_words(text, rng, params, edit)


def ocr_error(text: str, rng: np.random.Generator, params: dict) -> str:
    def edit(word, positions, rng):
        chars = list(word)
        candidates = [i for i, c in enumerate(chars) if c in OCR_ERRORS] or positions
        for p in sorted(rng.choice(candidates, size=min(len(positions), len(candidates)), replace=False)):
            options = OCR_ERRORS.get(chars[p])
            if options:
                chars[p] = options[int(rng.integers(len(options)))]
        return "".join(chars)
    return _edit_words(text, rng, params, edit)


# ---- word swaps -----------------------------------------------------------------------------------------------------
def swap_words(text: str, rng: np.random.Generator, share: float,
               choices: Callable[[str], list[str] | None]) -> str:
    """Replaces `share` of the words that have choices (at least one) by a random choice, in the word's case."""
    words = [m for m in WORD.finditer(text) if choices(m.group().lower())]
    replacements = []
    for index in _pick(len(words), share, rng):
        match = words[index]
        options = choices(match.group().lower())
        new = options[int(rng.integers(len(options)))]
        replacements.append((match.start(), match.end(), match_case(new, match.group())))
    return replace_spans(text, replacements)


def synonym_swap(text: str, rng: np.random.Generator, params: dict) -> str:
    table = synonym_table(params.get("synonyms"))
    return swap_words(text, rng, float(params.get("aug_p", 0.05)), table.get)


def common_misspelling(text: str, rng: np.random.Generator, params: dict) -> str:
    table = misspelling_table(params.get("misspellings"))
    return swap_words(text, rng, float(params.get("aug_p", 0.05)), table.get)


# ---- whole-text changes ---------------------------------------------------------------------------------------------
def upper_case(text: str, rng: np.random.Generator, params: dict) -> str:
    return text.upper()


def lower_case(text: str, rng: np.random.Generator, params: dict) -> str:
    return text.lower()


def remove_special_characters(text: str, rng: np.random.Generator, params: dict) -> str:
    return SPECIAL.sub("", text)


def unicode_to_ascii(text: str, rng: np.random.Generator, params: dict) -> str:
    """Accents dropped and compatibility forms folded (café -> cafe, ﬁ -> fi); other non-ASCII characters removed."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def letters_kept(original: str, perturbed: str) -> float:
    """Share of the original's letters the perturbed text still has (1.0 for a text without letters)."""
    before = sum(c.isalpha() for c in original)
    return 1.0 if not before else sum(c.isalpha() for c in perturbed) / before


def whitespace_change(text: str, rng: np.random.Generator, params: dict) -> str:
    """Doubles or tabs `aug_p` of the gaps between words (at least one) and adds trailing whitespace."""
    gaps = list(re.finditer(r" +", text))
    replacements = [(gaps[i].start(), gaps[i].end(), ("  ", "\t", " \n")[int(rng.integers(3))])
                    for i in _pick(len(gaps), float(params.get("aug_p", 0.05)), rng)]
    return replace_spans(text, replacements) + " "


def punctuation_change(text: str, rng: np.random.Generator, params: dict) -> str:
    """Removes or replaces `aug_p` of the punctuation marks (at least one); a text without any gets a '!'."""
    marks = [m for m in re.finditer(f"[{re.escape(PUNCTUATION)}]", text)]
    if not marks:
        return text.rstrip() + "!"
    replacements = []
    for index in _pick(len(marks), float(params.get("aug_p", 0.05)), rng):
        mark = marks[index].group()
        others = [p for p in PUNCTUATION if p != mark] + [""]
        replacements.append((marks[index].start(), marks[index].end(), others[int(rng.integers(len(others)))]))
    return replace_spans(text, replacements)


# ---- attack mutations (one step of an attack: a few characters) ----------------------------------------------------
def insert_invisible(text: str, rng: np.random.Generator, share: float) -> str:
    positions = _pick(len(text) + 1, share, rng)
    return replace_spans(text, [(p, p, ZERO_WIDTH[int(rng.integers(len(ZERO_WIDTH)))]) for p in positions])


def insert_deletion_controls(text: str, rng: np.random.Generator, share: float) -> str:
    positions = _pick(len(text) + 1, share, rng)
    return replace_spans(text, [(p, p, _random_letter(rng, "a") + DELETION_CONTROLS[int(rng.integers(2))])
                                 for p in positions])


def replace_homoglyphs(text: str, rng: np.random.Generator, share: float, table: dict[str, str]) -> str:
    replaceable = [i for i, c in enumerate(text) if c in table]
    if not replaceable:
        return text
    chosen = [replaceable[i] for i in _pick(len(replaceable), share, rng)]
    return replace_spans(text, [(i, i + 1, table[text[i]]) for i in chosen])


# ---- diffs ----------------------------------------------------------------------------------------------------------
# Diffs work on tokens (a word with its combining marks, a run of whitespace, an emoji sequence, or any other single character), so a
# swapped word shows as one change and a 10,000-character text diffs in milliseconds: texts with as many tokens
# compare token by token, others are aligned (see _token_opcodes) on the part between the common head and tail, and
# a middle of more than MAX_DIFF_TOKENS tokens is shown as one change.
TOKEN = re.compile(r"[\w\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+|\s+"
                   # an emoji with its modifiers and ZERO WIDTH JOINER sequence (👨‍👩‍👧) is one token
                   r"|[\U0001F000-\U0001FAFF\u2600-\u27BF](?:[\ufe0f\U0001F3FB-\U0001F3FF]"
                   r"|\u200d[\U0001F000-\U0001FAFF\u2600-\u27BF])*|.", re.DOTALL)
MAX_DIFF_TOKENS = 20000
REFINE_TOKENS = 600
MAX_STORED_CHANGES = 50
RESYNC_WINDOW, RESYNC_RUN = 64, 3


def _token_bounds(text: str) -> tuple[list[str], list[int]]:
    tokens, starts = [], []
    for match in TOKEN.finditer(text):
        tokens.append(match.group())
        starts.append(match.start())
    starts.append(len(text))
    return tokens, starts


def diff_opcodes(original: str, perturbed: str) -> list[tuple[str, int, int, int, int]]:
    """difflib-style (operation, i1, i2, j1, j2) character ranges covering both texts, found on tokens."""
    a, a_at = _token_bounds(original)
    b, b_at = _token_bounds(perturbed)
    token_ops: list[tuple[str, int, int, int, int]] = []
    if len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            op = "equal" if x == y else "replace"
            if token_ops and token_ops[-1][0] == op:
                token_ops[-1] = (op, token_ops[-1][1], i + 1, token_ops[-1][3], i + 1)
            else:
                token_ops.append((op, i, i + 1, i, i + 1))
    else:
        head = 0
        while head < min(len(a), len(b)) and a[head] == b[head]:
            head += 1
        tail = 0
        while tail < min(len(a), len(b)) - head and a[len(a) - 1 - tail] == b[len(b) - 1 - tail]:
            tail += 1
        middle_a, middle_b = a[head:len(a) - tail], b[head:len(b) - tail]
        if head:
            token_ops.append(("equal", 0, head, 0, head))
        if len(middle_a) + len(middle_b) > MAX_DIFF_TOKENS or not middle_a or not middle_b:
            op = "replace" if middle_a and middle_b else ("delete" if middle_a else "insert")
            token_ops.append((op, head, len(a) - tail, head, len(b) - tail))
        else:
            token_ops += [(op, i1 + head, i2 + head, j1 + head, j2 + head)
                          for op, i1, i2, j1, j2 in _token_opcodes(middle_a, middle_b)]
        if tail:
            token_ops.append(("equal", len(a) - tail, len(a), len(b) - tail, len(b)))
    return [(op, a_at[i1], a_at[i2], b_at[j1], b_at[j2]) for op, i1, i2, j1, j2 in token_ops
            if (i1, i2, j1, j2) != (i1, i1, j1, j1)]


def _token_opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """Opcodes on token lists: difflib (exact, quadratic where words repeat) up to REFINE_TOKENS tokens a side; longer
    ones by walking both lists and, at each difference, finding the nearest point within RESYNC_WINDOW tokens where
    RESYNC_RUN tokens agree again (linear for the local edits of perturbations; the rest is one change if none)."""
    if max(len(a), len(b)) <= REFINE_TOKENS:
        return difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    ops: list[tuple[str, int, int, int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            i0, j0 = i, j
            while i < len(a) and j < len(b) and a[i] == b[j]:
                i, j = i + 1, j + 1
            ops.append(("equal", i0, i, j0, j))
            continue
        found = _resync(a, b, i, j)
        if found is None:
            break
        di, dj = found
        ops.append(("replace" if di and dj else "delete" if di else "insert", i, i + di, j, j + dj))
        i, j = i + di, j + dj
    if i < len(a) or j < len(b):
        ops.append(("replace" if i < len(a) and j < len(b) else "delete" if i < len(a) else "insert",
                    i, len(a), j, len(b)))
    return ops


def _resync(a: list[str], b: list[str], i: int, j: int) -> tuple[int, int] | None:
    for total in range(1, 2 * RESYNC_WINDOW + 1):
        for di in range(max(0, total - RESYNC_WINDOW), min(total, RESYNC_WINDOW) + 1):
            dj = total - di
            x, y = a[i + di:i + di + RESYNC_RUN], b[j + dj:j + dj + RESYNC_RUN]
            if x == y and (len(x) == RESYNC_RUN or (i + di + len(x) == len(a) and j + dj + len(y) == len(b))):
                return di, dj
    return None


def diff_segments(original: str, perturbed: str,
                  opcodes: list | None = None) -> list[tuple[str, str, str]]:
    """(operation, original piece, perturbed piece) runs: "equal", "replace", "delete" or "insert"."""
    return [(op, original[i1:i2], perturbed[j1:j2])
            for op, i1, i2, j1, j2 in (opcodes if opcodes is not None else diff_opcodes(original, perturbed))]


def changed_spans(original: str, perturbed: str) -> list[list[int]]:
    """[start, end) spans of `perturbed` that differ from `original` (empty spans mark deletions)."""
    return [[j1, j2] for op, _, _, j1, j2 in diff_opcodes(original, perturbed) if op != "equal"]


def diff_fields(original: str, perturbed: str) -> dict:
    """What an example stores about its diff, once, so result pages never recompute it: `changed_spans` (perturbed
    coordinates) and `diff` ([i1, i2, j1, j2] of every changed range, original then perturbed coordinates)."""
    changes = [[i1, i2, j1, j2] for op, i1, i2, j1, j2 in diff_opcodes(original, perturbed) if op != "equal"]
    if len(changes) > MAX_STORED_CHANGES:
        # Many changes (an upper-cased long text): changes a few characters apart become one, so an example stays
        # small; the page then marks the whole stretch.
        merged = [changes[0]]
        for i1, i2, j1, j2 in changes[1:]:
            if i1 - merged[-1][1] <= 3:
                merged[-1] = [merged[-1][0], i2, merged[-1][2], j2]
            else:
                merged.append([i1, i2, j1, j2])
        changes = merged
    return {"changed_spans": [[j1, j2] for _, _, j1, j2 in changes], "diff": changes}


def opcodes_from_changes(original: str, perturbed: str, changes: list) -> list[tuple[str, int, int, int, int]] | None:
    """The full opcodes back from a stored `diff`; None when it does not fit the texts (then recompute)."""
    opcodes, i, j = [], 0, 0
    try:
        for i1, i2, j1, j2 in changes:
            if not (i <= i1 <= i2 <= len(original) and j <= j1 <= j2 <= len(perturbed)) or i1 - i != j1 - j \
                    or original[i:i1] != perturbed[j:j1]:
                return None
            if i1 > i:
                opcodes.append(("equal", i, i1, j, j1))
            opcodes.append(("replace" if i2 > i1 and j2 > j1 else "delete" if i2 > i1 else "insert", i1, i2, j1, j2))
            i, j = i2, j2
    except (TypeError, ValueError):
        return None
    if len(original) - i != len(perturbed) - j or original[i:] != perturbed[j:]:
        return None
    if i < len(original):
        opcodes.append(("equal", i, len(original), j, len(perturbed)))
    return opcodes
