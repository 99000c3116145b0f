"""RIME's `text.*` metadata features: attributes derived from each text column, which the text tests split, compare
and check instead of the raw strings (docs/engine.md).

Per text column and row:
- `char_length`: characters; `token_count`: word tokens (runs of letters, digits or `_`, so CJK runs count as one);
  `avg_token_length`: word characters per token; `non_alpha_share`: the share of characters that are neither
  letters nor whitespace (digits, punctuation, symbols, emoji); NaN for an empty text.
- `max_token_length`: characters of the longest token (RIME's text.MaxTokenLength: URLs, hashes, glued words).
- `script`: the Unicode script most of the text's letters belong to (Latin, Cyrillic, Greek, Arabic, Hebrew, Han,
  Hiragana, Katakana, Hangul, Devanagari, Thai ...; "none" without letters), from the Unicode character names.
- `language`: the detected language (ISO 639 code: en, de, ru ...; RIME's text.DetectedLanguage) from py3langid's
  bundled naive-Bayes model (offline; about 0.13 ms per distinct short text, reading at most the first
  `LANGUAGE_SAMPLE_CHARS`, plus about 1 s once per process to load the model); "unknown" for texts of fewer than
  `MIN_LANGUAGE_TOKENS` words, where identification is a guess. Left out when py3langid is not installed.
The attribute names are `text.<attribute>` for a run with one text column and `text.<column>.<attribute>` with
several (natural language inference: premise and hypothesis).

Everything is computed once per run (`text_attributes(ctx)`, memoised in ctx.memo) with pandas' vectorised string
methods; the script runs one lookup per distinct character of the corpus and a C-level `str.translate` per text.
Tokens (lower-cased words) are kept for the vocabulary tests.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from stresstests.engine.base import Context

NUMERIC_ATTRIBUTES = ("char_length", "token_count", "avg_token_length", "max_token_length", "non_alpha_share")
CATEGORICAL_ATTRIBUTES = ("script", "language")
NO_SCRIPT = "none"
UNKNOWN_LANGUAGE = "unknown"
MIN_LANGUAGE_TOKENS = 3
LANGUAGE_SAMPLE_CHARS = 500   # identification reads a text's beginning: its cost grows with the characters read
TOKEN_PATTERN = r"\w+"
# Unicode character names start with the script for most alphabets; a few need their own word.
_SCRIPT_NAMES = {"CJK": "Han", "HANGUL": "Hangul", "HIRAGANA": "Hiragana", "KATAKANA": "Katakana"}


def attribute_name(column: str, attribute: str, text_features: list[str]) -> str:
    return f"text.{attribute}" if len(text_features) == 1 else f"text.{column}.{attribute}"


@dataclass
class TextAttributes:
    """The attributes of both datasets (one column per attribute and text column), their kinds, and per text column
    the lower-cased tokens of every row."""

    reference: pd.DataFrame
    evaluation: pd.DataFrame
    numeric: list[str]
    categorical: list[str]
    column_of: dict[str, str]                         # attribute name -> the text column it describes
    reference_tokens: dict[str, pd.Series] = field(default_factory=dict)
    evaluation_tokens: dict[str, pd.Series] = field(default_factory=dict)

    def name(self, column: str, attribute: str) -> str:
        return attribute_name(column, attribute, list(dict.fromkeys(self.column_of.values())))


def text_attributes(ctx: Context) -> TextAttributes:
    """The attributes of ctx's text features, computed once per run."""
    key = "text_attributes"
    if key not in ctx.memo:
        ctx.memo[key] = compute_attributes(ctx.reference, ctx.evaluation, ctx.schema.text_features)
    return ctx.memo[key]


def compute_attributes(reference: pd.DataFrame, evaluation: pd.DataFrame, text_features: list[str]
                       ) -> TextAttributes:
    frames: dict[str, dict[str, pd.Series]] = {"reference": {}, "evaluation": {}}
    tokens: dict[str, dict[str, pd.Series]] = {"reference": {}, "evaluation": {}}
    numeric, categorical, column_of = [], [], {}
    scripts = _script_table(pd.concat([reference[c] for c in text_features] +
                                      [evaluation[c] for c in text_features], ignore_index=True))
    for column in text_features:
        for which, frame in (("reference", reference), ("evaluation", evaluation)):
            values = text_values(frame[column])
            attributes, row_tokens = _row_attributes(values, scripts)
            tokens[which][column] = row_tokens
            for attribute, series in attributes.items():
                frames[which][attribute_name(column, attribute, text_features)] = series
        for attribute in NUMERIC_ATTRIBUTES:
            numeric.append(attribute_name(column, attribute, text_features))
        present = [a for a in CATEGORICAL_ATTRIBUTES if attribute_name(column, a, text_features) in frames["reference"]]
        for attribute in present:
            categorical.append(attribute_name(column, attribute, text_features))
        column_of.update({attribute_name(column, a, text_features): column for a in (*NUMERIC_ATTRIBUTES, *present)})
    return TextAttributes(pd.DataFrame(frames["reference"], index=reference.index),
                          pd.DataFrame(frames["evaluation"], index=evaluation.index), numeric, categorical, column_of,
                          tokens["reference"], tokens["evaluation"])


def text_values(series: pd.Series) -> pd.Series:
    """The column as Python strings; nulls become empty texts (an empty text and a missing one read the same)."""
    return series.astype(object).where(series.notna(), "").astype(str)


def _row_attributes(values: pd.Series, scripts: dict[int, str | None]) -> tuple[dict[str, pd.Series], pd.Series]:
    strings = values.str
    char_length = strings.len().astype(float)
    word_chars = strings.count(r"\w").astype(float)
    letters = strings.count(r"[^\W\d_]").astype(float)
    spaces = strings.count(r"\s").astype(float)
    row_tokens = values.str.lower().str.findall(TOKEN_PATTERN)
    token_count = row_tokens.str.len().astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        avg_token_length = (word_chars / token_count).where(token_count > 0)
        non_alpha = ((char_length - letters - spaces) / char_length).where(char_length > 0)
    max_token_length = row_tokens.map(lambda tokens: max(map(len, tokens), default=0)).astype(float)
    attributes = {"char_length": char_length, "token_count": token_count, "avg_token_length": avg_token_length,
                  "max_token_length": max_token_length.where(token_count > 0), "non_alpha_share": non_alpha,
                  "script": _scripts(values, scripts)}
    languages = detect_languages(values, token_count)
    if languages is not None:
        attributes["language"] = languages
    return attributes, row_tokens


_IDENTIFIER: list = []   # py3langid's identifier, loaded once per process (about 2 s: the model is decompressed)


def language_identifier():
    """py3langid's LanguageIdentifier with normalised probabilities, or None when the package is not installed."""
    if not _IDENTIFIER:
        try:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier
        except ImportError:
            _IDENTIFIER.append(None)
        else:
            _IDENTIFIER.append(LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
    return _IDENTIFIER[0]


def detect_languages(values: pd.Series, token_count: pd.Series) -> pd.Series | None:
    """The language of each text (one classification per distinct text), "unknown" for very short texts."""
    identifier = language_identifier()
    if identifier is None:
        return None
    long_enough = (token_count >= MIN_LANGUAGE_TOKENS).to_numpy()
    codes, distinct = pd.factorize(values[long_enough])
    found = np.array([identifier.classify(text[:LANGUAGE_SAMPLE_CHARS])[0] for text in distinct], dtype=object)
    languages = np.full(len(values), UNKNOWN_LANGUAGE, dtype=object)
    languages[long_enough] = found[codes] if len(found) else UNKNOWN_LANGUAGE
    return pd.Series(languages, index=values.index, dtype=object)


def _script_table(values: pd.Series) -> dict[int, str | None]:
    """str.translate table: each letter of the corpus -> a one-character code of its script; other characters are
    deleted. The codes are private-use characters indexed into `_SCRIPT_CODES`."""
    distinct = set("".join(text_values(values).unique()))
    table: dict[int, str | None] = {}
    for character in distinct:
        script = script_of(character)
        table[ord(character)] = None if script is None else _code(script)
    return table


_SCRIPT_CODES: dict[str, str] = {}
_CODE_SCRIPTS: dict[str, str] = {}


def _code(script: str) -> str:
    if script not in _SCRIPT_CODES:
        code = chr(0xE000 + len(_SCRIPT_CODES))
        _SCRIPT_CODES[script], _CODE_SCRIPTS[code] = code, script
    return _SCRIPT_CODES[script]


def script_of(character: str) -> str | None:
    """The script of a letter from its Unicode name ("CYRILLIC SMALL LETTER A" -> Cyrillic); None for non-letters."""
    if not character.isalpha():
        return None
    name = unicodedata.name(character, "")
    if not name:
        return "Unknown"
    first = name.split(" ", 1)[0]
    return _SCRIPT_NAMES.get(first, first.title())


def _scripts(values: pd.Series, table: dict[int, str | None]) -> pd.Series:
    coded = values.str.translate(table)

    def majority(codes: str) -> str:
        if not codes:
            return NO_SCRIPT
        first = codes[0]
        if codes.count(first) == len(codes):   # the usual case: one script only
            return _CODE_SCRIPTS[first]
        return _CODE_SCRIPTS[Counter(codes).most_common(1)[0][0]]

    return coded.map(majority).astype(object)


def token_counts(row_tokens: pd.Series) -> Counter:
    counts: Counter = Counter()
    for tokens in row_tokens:
        counts.update(tokens)
    return counts


# ---- vocabulary: what the reference has seen ----------------------------------------------------------------------
@dataclass
class Vocabulary:
    """One text column's words and characters against the reference. A reference row is judged leave-one-out (a word
    or character is new to it when no other reference text has it), so reference and evaluation rows are judged
    alike: a fresh sample of the reference's population shows about the reference's leave-one-out rates."""

    document_frequency: pd.Series          # reference texts holding each word
    reference_tokens: np.ndarray           # tokens per row
    evaluation_tokens: np.ndarray
    reference_oov: np.ndarray              # out-of-vocabulary tokens per row (leave-one-out)
    evaluation_oov: np.ndarray
    reference_new_characters: pd.Series    # per row the characters no other reference text has ("" when none)
    evaluation_new_characters: pd.Series


def vocabulary(ctx: Context, column: str) -> Vocabulary:
    key = ("text_vocabulary", column)
    if key not in ctx.memo:
        attributes = text_attributes(ctx)
        ctx.memo[key] = compute_vocabulary(attributes.reference_tokens[column], attributes.evaluation_tokens[column],
                                           text_values(ctx.reference[column]), text_values(ctx.evaluation[column]))
    return ctx.memo[key]


def compute_vocabulary(reference_tokens: pd.Series, evaluation_tokens: pd.Series, reference_texts: pd.Series,
                       evaluation_texts: pd.Series) -> Vocabulary:
    ref = _exploded(reference_tokens)
    document_frequency = ref.drop_duplicates().groupby("token", sort=False).size()
    ref_oov = np.bincount(ref["row"], weights=(ref["token"].map(document_frequency) <= 1).to_numpy(dtype=float),
                          minlength=len(reference_tokens))
    ev = _exploded(evaluation_tokens)
    ev_oov = np.bincount(ev["row"], weights=(~ev["token"].isin(document_frequency.index)).to_numpy(dtype=float),
                         minlength=len(evaluation_tokens))
    # Distinct texts holding each character: copies of one text do not vouch for each other's characters.
    counts: Counter = Counter()
    for text in reference_texts.unique():
        counts.update(set(text))
    known_elsewhere = {ord(c): None for c, n in counts.items() if n >= 2}
    known = {ord(c): None for c in counts}
    ignored = {ord(c): None for c in " \t\r\n"}
    return Vocabulary(document_frequency, reference_tokens.str.len().to_numpy(dtype=float),
                      evaluation_tokens.str.len().to_numpy(dtype=float), ref_oov, ev_oov,
                      reference_texts.str.translate({**known_elsewhere, **ignored}),
                      evaluation_texts.str.translate({**known, **ignored}))


def _exploded(row_tokens: pd.Series) -> pd.DataFrame:
    lengths = row_tokens.str.len().to_numpy(dtype=int)
    flat = [token for tokens in row_tokens for token in tokens]
    return pd.DataFrame({"row": np.repeat(np.arange(len(row_tokens)), lengths), "token": flat})
