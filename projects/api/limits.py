"""Limits on API request bodies: too large is 413, nested too deeply is 400, both in the API's error body.

Method. The size is decided before a byte of the body is read: the declared Content-Length against the limit of the
path (JSON and form bodies get API_MAX_BODY_BYTES; the multipart upload endpoints get MAX_UPLOAD_BYTES plus room for
the multipart envelope, the exact file size being checked by the upload view). A chunked body has no length to
declare, so it is read up to one byte past the limit and refused there, never read to the end; a server that cannot
tell where a chunked body ends (Django's development server) gets 411, because reading on would read the next request.
Depth is checked after parsing, on the parsed value, with an explicit stack (a recursive walk would itself overflow);
JSON deeper than the interpreter's recursion limit fails inside the parser and gets the same 400. Before this, both
cases reached the views as RequestDataTooBig and RecursionError, i.e. 500s (finding 7).
"""
from __future__ import annotations

import codecs
import io
import json
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, JsonResponse
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from .errors import status_body

API_PREFIXES = ("/v1/", "/v1-beta/", "/api/")
UPLOAD_PREFIX = "/api/v1/"
UPLOAD_SUFFIXES = ("/uploads", "/datasets", "/models")
MULTIPART_ENVELOPE_BYTES = 1024 * 1024  # boundaries, part headers and the small form fields beside the file
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def body_limit(path: str) -> int:
    """Bytes a request body to this API path may have: upload endpoints take files, everything else small JSON."""
    if path.startswith(UPLOAD_PREFIX) and path.endswith(UPLOAD_SUFFIXES):
        return settings.MAX_UPLOAD_BYTES + MULTIPART_ENVELOPE_BYTES
    return settings.API_MAX_BODY_BYTES


def _human(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


def _refusal(http_status: int, message: str) -> JsonResponse:
    # Compact, like the bodies DRF renders: one shape for every error of the API.
    response = JsonResponse(status_body(http_status, message), status=http_status,
                            json_dumps_params={"separators": (",", ":")})
    # Answered before CommonMiddleware would add it; the client may still be sending, so tell it where the answer ends.
    response["Content-Length"] = str(len(response.content))
    return response


def _too_large(limit: int) -> JsonResponse:
    return _refusal(413, f"The request body is larger than this endpoint accepts ({_human(limit)}).")


class ApiBodyLimitMiddleware:
    """Refuses API request bodies over the path's limit with 413 before the view (or DRF's parsers) reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request.method in BODY_METHODS and request.path_info.startswith(API_PREFIXES):
            refusal = self._check(request, body_limit(request.path_info))
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def _check(self, request: HttpRequest, limit: int) -> JsonResponse | None:
        declared = request.META.get("CONTENT_LENGTH") or request.META.get("HTTP_CONTENT_LENGTH")
        if declared:
            try:
                length = int(declared)
            except ValueError:
                return _refusal(400, f"Content-Length {declared[:40]!r} is not a number of bytes.")
            if length < 0:
                return _refusal(400, "Content-Length cannot be negative.")
            return _too_large(limit) if length > limit else None
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return _buffer_chunked(request, limit)
        return None


def _buffer_chunked(request: HttpRequest, limit: int) -> JsonResponse | None:
    """Reads a chunked body up to one byte past the limit; if it fits, the request gets it with a Content-Length
    (Django's WSGI request would otherwise read a body without Content-Length as empty)."""
    environ = getattr(request, "environ", {})
    if "wsgi.input" in environ and not environ.get("wsgi.input_terminated"):
        # wsgiref & co. pass the raw chunked stream: there is no safe way to find the end of the body.
        return _refusal(411, "A chunked request body is not supported by this server; send Content-Length.")
    source = environ["wsgi.input"] if "wsgi.input" in environ else request._stream  # ASGI: Django spooled it
    body = source.read(limit + 1)
    if len(body) > limit:
        return _too_large(limit)
    request._stream = LimitedStream(io.BytesIO(body), len(body))
    request.META["CONTENT_LENGTH"] = str(len(body))
    return None


def nesting_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (a scalar is 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        children = current.values() if isinstance(current, dict) else current if isinstance(current, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON's \\ud800 escape can carry
        return False
    return True


def has_unstorable_text(value: Any) -> bool:
    """Whether any text in a parsed body, query or path (keys included) holds a NUL character or a lone surrogate,
    which PostgreSQL refuses with an error at INSERT or WHERE time (a 500); without recursion."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if not _storable(current):
                return True
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, (list, tuple)):
            stack.extend(current)
        elif hasattr(current, "lists"):  # QueryDict: every value of every key
            stack.extend(current.lists())
    return False


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSON parser with a nesting limit: no view, serializer or JSON column sees a body nested deeper than
    API_MAX_JSON_DEPTH, and JSON that overflows the parser itself is a 400 too."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.load(codecs.getreader(encoding)(stream), parse_constant=_no_constant)
        except RecursionError:
            raise ParseError(self._too_deep()) from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if nesting_depth(data) > settings.API_MAX_JSON_DEPTH:
            raise ParseError(self._too_deep())
        return data

    @staticmethod
    def _too_deep() -> str:
        return f"The JSON body is nested too deeply (at most {settings.API_MAX_JSON_DEPTH} levels)."


def json_loads_limited(text: str | bytes, *, what: str) -> Any:
    """json.loads for JSON that arrives inside a request (a form field, a string field of the body, a page token),
    with the body's nesting limit: otherwise such strings would carry the deep JSON the parser refuses."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValidationError(f"{what} is nested too deeply (at most {settings.API_MAX_JSON_DEPTH} levels).") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, NaN/Infinity
        raise ValidationError(f"{what} is not valid JSON: {getattr(error, 'msg', error)}.") from None
    if nesting_depth(value) > settings.API_MAX_JSON_DEPTH:
        raise ValidationError(f"{what} is nested too deeply (at most {settings.API_MAX_JSON_DEPTH} levels).")
    return value


def _no_constant(name: str):
    # NaN and Infinity are not JSON; DRF refuses them too (strict mode), and JSON columns could not store them.
    raise ValueError(f"Out of range float values are not permitted: {name}")
