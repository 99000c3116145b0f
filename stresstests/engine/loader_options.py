"""User-given loader options (RIME's `loading_kwargs`): an allow-list of keys, each with the shape its value may take.

Method. The options come from a user's JSON and go to pandas' readers, where several keys do far more than format a
table: `engine="python"` with a multi-character `sep` runs a user's regular expression over every line (a catastrophic
one keeps a worker busy for hours), `storage_options` and `filters` reach other systems, `chunksize` changes what the
reader returns. So only keys that describe the file's text are accepted, each value checked for shape (one character,
a known encoding, a short list of strings, a bounded count), and the readers fix the parser engine themselves. A
refusal names the key and says what would be accepted. Pure Python: the server checks at registration, the loader
again at read time.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stresstests.engine.errors import DataLoadError

ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "iso-8859-1", "iso-8859-15", "cp1252", "ascii")
DTYPES = ("str", "string", "object", "float", "float32", "float64", "int", "int32", "int64", "Int64", "bool",
          "boolean", "category", "datetime64[ns]")
MAX_LIST_ITEMS = 1000
MAX_TEXT = 200
# Why the most dangerous keys are refused: said in the message instead of a generic "not accepted".
REFUSED_BECAUSE = {
    "engine": "the parser engine is fixed by the server",
    "regex": "regular expressions are not accepted",
    "delim_whitespace": "use sep with one character",
    "storage_options": "data is read only from its registered source",
    "filters": "filters are not accepted; register a table or a file with the rows you want",
    "converters": "converters are not accepted",
    "compression": "compression is recognised from the file's content",
    "nrows": "use data_params.nrows",
    "chunksize": "the whole table is read at once",
    "iterator": "the whole table is read at once",
}


class LoaderOptionError(DataLoadError):
    """A loading option the server refuses; the message names the key."""


@dataclass(frozen=True)
class Option:
    formats: tuple[str, ...]
    check: Callable[[object], bool]
    shape: str


def _one_char(value: object) -> bool:
    return isinstance(value, str) and len(value) == 1 and value not in "\r\n"


def _text(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_TEXT


def _texts(value: object) -> bool:
    return isinstance(value, list) and len(value) <= MAX_LIST_ITEMS and all(_text(item) for item in value)


def _text_or_texts(value: object) -> bool:
    return _text(value) or _texts(value)


def _count(limit: int) -> Callable[[object], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= limit


def _bool(value: object) -> bool:
    return isinstance(value, bool)


def _encoding(value: object) -> bool:
    return isinstance(value, str) and value.lower().replace("_", "-") in ENCODINGS


def _dtype(value: object) -> bool:
    if isinstance(value, str):
        return value in DTYPES
    return (isinstance(value, dict) and len(value) <= MAX_LIST_ITEMS
            and all(_text(k) and isinstance(v, str) and v in DTYPES for k, v in value.items()))


def _header(value: object) -> bool:
    return value is None or _count(100)(value)


def _one_of(*choices: object) -> Callable[[object], bool]:
    return lambda value: value in choices


CSV, JSON, JSONL, PARQUET = ("csv",), ("json",), ("jsonl",), ("parquet",)
OPTIONS: dict[str, Option] = {
    "sep": Option(CSV, _one_char, "one character, e.g. \";\" or \"\\t\""),
    "delimiter": Option(CSV, _one_char, "one character, e.g. \";\" or \"\\t\""),
    "quotechar": Option(CSV, _one_char, "one character"),
    "escapechar": Option(CSV, _one_char, "one character"),
    "decimal": Option(CSV, _one_char, "one character"),
    "thousands": Option(CSV, _one_char, "one character"),
    "comment": Option(CSV, _one_char, "one character"),
    "quoting": Option(CSV, _count(3), "0, 1, 2 or 3 (csv.QUOTE_*)"),
    "encoding": Option(CSV + JSON + JSONL, _encoding, f"one of {', '.join(ENCODINGS)}"),
    "header": Option(CSV, _header, "a row number from 0 to 100, or null"),
    "skiprows": Option(CSV, _count(1_000_000), "a number of rows from 0 to 1,000,000"),
    "na_values": Option(CSV, _text_or_texts, f"a string or a list of at most {MAX_LIST_ITEMS} short strings"),
    "true_values": Option(CSV, _texts, "a list of short strings"),
    "false_values": Option(CSV, _texts, "a list of short strings"),
    "keep_default_na": Option(CSV, _bool, "true or false"),
    "skipinitialspace": Option(CSV, _bool, "true or false"),
    "skip_blank_lines": Option(CSV, _bool, "true or false"),
    "on_bad_lines": Option(CSV, _one_of("error", "skip", "warn"), "error, skip or warn"),
    "usecols": Option(CSV, _texts, "a list of column names"),
    "parse_dates": Option(CSV, _texts, "a list of column names"),
    "columns": Option(PARQUET + JSON, _texts, "a list of column names"),
    "dtype": Option(CSV + JSONL, _dtype, f"a type name or a mapping column -> type ({', '.join(DTYPES)})"),
    "convert_dates": Option(JSONL, lambda v: _bool(v) or _texts(v), "true, false or a list of column names"),
}


def check_loader_options(options: Mapping | None, *, fmt: str | None = None) -> dict:
    """The options, checked; `fmt` (known at read time) also refuses keys of another format."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise LoaderOptionError("Loading options (loading_kwargs) must be a JSON object.")
    for key, value in options.items():
        option = OPTIONS.get(key)
        if option is None:
            raise LoaderOptionError(_unknown(str(key)))
        if not option.check(value):
            raise LoaderOptionError(f"Loading option “{key}” must be {option.shape}; got {_shown(value)}.")
        if fmt is not None and fmt not in option.formats:
            raise LoaderOptionError(f"Loading option “{key}” applies to {'/'.join(f.upper() for f in option.formats)} "
                                    f"files; this file is {fmt.upper()}.")
    return dict(options)


def _unknown(key: str) -> str:
    reason = REFUSED_BECAUSE.get(key)
    accepted = ", ".join(sorted(OPTIONS))
    if reason:
        return f"Loading option “{key}” is not accepted: {reason}. Accepted options: {accepted}."
    return f"Loading option “{key[:60]}” is not accepted. Accepted options: {accepted}."


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
