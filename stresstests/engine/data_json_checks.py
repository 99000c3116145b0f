"""Cheap checks of a JSON or JSON Lines dataset's first bytes, before any parser sees the whole file.

A record with 300,000 keys costs pandas a minute of CPU, and a 200,000-deep array exhausts Python's recursion. Both
show in the first bytes, so one regular-expression pass over the head (at most data.MAX_LINE_BYTES) tokenizes strings
and brackets, tracks the nesting depth, and counts the keys of each record (an object at `record_depth`: 1 for a
JSON Lines line or a top-level object, 2 for the objects in a top-level array). It stops at the first record past
`max_columns` keys or the first bracket past MAX_DEPTH, so a hostile head costs at most one pass; the head may end in
the middle of a record, whose count is then a lower bound.
"""

from __future__ import annotations

import re
from pathlib import Path

from stresstests.engine.errors import DataLoadError

# A table's row is flat, or holds a few small nested values; no dataset a stress test can use nests this deep.
MAX_DEPTH = 64
# A string (a key when a colon follows it), or one bracket. Inside a string, brackets and colons mean nothing.
# A string cut by the end of the head runs to the end (`\Z`), so no quote makes the scan start over (quadratic time).
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"(\s*:)?|\\?\Z)|[{}\[\]]', re.DOTALL)


def check_json_head(path: Path, head: bytes, *, record_depth: int, max_columns: int) -> None:
    """Refuse a record with more than `max_columns` keys, or nesting deeper than MAX_DEPTH, within `head`."""
    depth, keys = 0, 0
    for token in _TOKEN.finditer(head):
        first = token.group()[:1]
        if first in (b"{", b"["):
            depth += 1
            if depth > MAX_DEPTH:
                raise DataLoadError(f"{path.name} nests arrays or objects more than {MAX_DEPTH} levels deep; a dataset "
                                    "is a table of records, so it was refused. Flatten the data.")
            if first == b"{" and depth == record_depth:
                keys = 0
        elif first in (b"}", b"]"):
            depth = max(depth - 1, 0)
        elif token.group(1) is not None and depth == record_depth:
            keys += 1
            if keys > max_columns:
                raise DataLoadError(f"{path.name} has a record with more than {max_columns:,} keys (columns); a "
                                    f"stress test handles at most {max_columns:,}. Keep the columns the model uses "
                                    "(and the label), or split the data.")


def check_json_lines_head(path: Path, head: bytes, *, max_columns: int) -> None:
    """Every line in `head`, the last one possibly cut, each a record of its own."""
    for line in head.split(b"\n"):
        if line.strip():
            check_json_head(path, line, record_depth=1, max_columns=max_columns)
