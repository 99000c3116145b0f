"""Every API error becomes google.rpc.Status: {"code": int, "message": str, "details": []}.

The SDK parses error bodies with ast.literal_eval and reads body["message"], so DRF's {"detail": ...}, any JSON
true/false/null and Django's HTML error pages all crash it (contract §4). Hence one handler that catches everything.
"""
from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

logger = logging.getLogger(__name__)

# google.rpc.Code for the HTTP statuses we send.
RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 405: 12, 409: 6, 413: 3, 415: 3, 429: 8, 500: 13, 503: 14}


def status_body(http_status: int, message: str) -> dict:
    return {"code": RPC_CODES.get(http_status, 2), "message": message, "details": []}


def rime_exception_handler(exc, context) -> Response:
    http_status, message = _describe(exc)
    if http_status >= 500:
        logger.exception("API error in %s", context.get("view").__class__.__name__, exc_info=exc)
    response = Response(status_body(http_status, message), status=http_status)
    if isinstance(exc, exceptions.Throttled) and exc.wait:
        response["Retry-After"] = str(int(exc.wait))
    return response


def _describe(exc) -> tuple[int, str]:
    if isinstance(exc, Http404):
        return 404, str(exc) or "Not found."
    if isinstance(exc, DjangoPermissionDenied):
        return 403, str(exc) or "You do not have permission to do this."
    if isinstance(exc, DjangoValidationError):
        return 400, " ".join(exc.messages)
    if isinstance(exc, RequestDataTooBig):
        return 413, "The request body is larger than this endpoint accepts."
    if isinstance(exc, SuspiciousOperation):  # e.g. TooManyFieldsSent from a form body with thousands of fields
        return 400, str(exc) or "The request was malformed."
    if isinstance(exc, exceptions.APIException):
        return exc.status_code, _flatten(exc.detail)
    return status.HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error"


def _flatten(detail, prefix: str = "") -> str:
    """DRF error details (dicts of lists) as one readable sentence: 'name: This field is required.'"""
    if isinstance(detail, dict):
        parts = [_flatten(value, f"{key}: " if key != "non_field_errors" else "") for key, value in detail.items()]
        return " ".join(part for part in parts if part)
    if isinstance(detail, list):
        return " ".join(_flatten(item, prefix) for item in detail)
    return f"{prefix}{detail}"


def not_found_view(request, *args, **kwargs) -> JsonResponse:
    """Unknown /v1 paths answer in the status shape too, instead of Django's HTML 404 page."""
    return JsonResponse(status_body(404, f"No API endpoint at {request.path}."), status=404)
