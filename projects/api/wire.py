"""Wire conventions of RIME's grpc-gateway API, as the official client reads them.

See shared/reference/rime-sdk-wire-contract.md: project/model/integration ids are {"uuid": ...} objects while dataset,
job and test-run ids are bare strings; datetimes are RFC 3339; page tokens carry the whole query; user config dicts
may come in snake_case or camelCase.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

from rest_framework.exceptions import ValidationError

from .limits import json_loads_limited

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_PAGE_OFFSET = 10**9
INVALID_PAGE_TOKEN = "The page token is not valid; start again from the first page."


def uuid_obj(value: Any) -> dict[str, str] | None:
    return {"uuid": str(value)} if value else None


def uuid_value(value: Any) -> str:
    """The id inside {"uuid": ...}, or the bare string: the client sends both shapes depending on the call."""
    if isinstance(value, dict):
        value = value.get("uuid")
    return str(value or "")


def parse_uuid(value: Any) -> uuid.UUID | None:
    """None for anything that is not a UUID, so a malformed id is simply 'not found' rather than a server error."""
    try:
        return uuid.UUID(uuid_value(value))
    except (ValueError, AttributeError, TypeError):
        return None


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z; never an empty string, which the client cannot parse."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def compact(data: dict) -> dict:
    """Drops None values: the client treats a missing key and null the same, and smaller bodies read better."""
    return {key: value for key, value in data.items() if value is not None}


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    return _CAMEL_BOUNDARY.sub(r"_\1", name).lower()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def snake_keys(value: Any, *, keep_below: frozenset[str] = frozenset()) -> Any:
    """Recursively snake_cases dict keys; the values under `keep_below` keys (user data such as test keys) stay as sent."""
    if isinstance(value, list):
        return [snake_keys(item, keep_below=keep_below) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {}
    for key, item in value.items():
        name = snake(key)
        converted[name] = item if name in keep_below else snake_keys(item, keep_below=keep_below)
    return converted


def json_field(value: Any, field_name: str) -> Any:
    """Fields the client JSON-encodes into strings (kwargs, loadingKwargs, individualTestsConfig) back to objects."""
    if not isinstance(value, str):
        return value
    if not value.strip():
        return {}
    return json_loads_limited(value, what=field_name)


@dataclass(frozen=True)
class PageRequest:
    """One page of a list: the filters of the first request and where this page starts."""

    query: dict
    offset: int
    size: int


def page_request(params, first_page_query: dict, *, default_size: int = DEFAULT_PAGE_SIZE) -> PageRequest:
    """Later pages carry only pageToken, so the token holds the filters and the offset (§5 of the contract)."""
    size = _page_size(params.get("pageSize"), default_size)
    token = params.get("pageToken") or ""
    if not token:
        return PageRequest(query=first_page_query, offset=0, size=size)
    try:
        decoded = json_loads_limited(base64.urlsafe_b64decode(token.encode()), what="pageToken")
        query, offset = decoded["q"], decoded["o"]
    except (binascii.Error, ValueError, KeyError, TypeError, ValidationError) as error:
        raise ValidationError(INVALID_PAGE_TOKEN) from error
    # A token is the client's to send back, so it is input like any other: the views index the query by the keys
    # of the first page's filters and slice by the offset, which a forged token must not break (a KeyError or a
    # negative slice would be a 500).
    valid_query = (isinstance(query, dict) and set(query) == set(first_page_query)
                   and all(isinstance(value, str) for value in query.values()))
    if not valid_query or type(offset) is not int or not 0 <= offset <= MAX_PAGE_OFFSET:
        raise ValidationError(INVALID_PAGE_TOKEN)
    return PageRequest(query=query, offset=offset, size=size)


def _page_size(raw: str | None, default: int) -> int:
    try:
        size = int(raw) if raw else default
    except ValueError as error:
        raise ValidationError("pageSize must be a number.") from error
    return max(1, min(size, MAX_PAGE_SIZE))


def page_body(items: Sequence, page: PageRequest, list_key: str, *, total: int) -> dict:
    """hasMore is a real JSON boolean and is false on the last page: anything else makes the client loop forever."""
    next_offset = page.offset + len(items)
    has_more = next_offset < total and len(items) > 0
    token = ""
    if has_more:
        token = base64.urlsafe_b64encode(json.dumps({"q": page.query, "o": next_offset}).encode()).decode()
    return {list_key: list(items), "nextPageToken": token, "hasMore": has_more}
