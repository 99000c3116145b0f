"""`client.create_integration`: RIME's named variables mapped onto our integration settings and secrets.

The SDK sends two requests (read from rime_sdk/client.py): POST /v1-beta/integrations with the schema (names,
sensitivities, maybe values), then POST /v1-beta/integrations/{id} with the values.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from rest_framework.exceptions import ValidationError

from projects.models import IntegrationType

PUBLIC = "VARIABLE_SENSITIVITY_PUBLIC"
# RIME variable name -> (our name, is it secret?) per type. Region has two spellings in the wild.
VARIABLES = {
    IntegrationType.S3: {
        "AWS_ACCESS_KEY_ID": ("access_key_id", True),
        "AWS_SECRET_ACCESS_KEY": ("secret_access_key", True),
        "AWS_ENDPOINT_URL": ("endpoint_url", False),
        "AWS_REGION": ("region", False),
        "AWS_DEFAULT_REGION": ("region", False),
    },
    IntegrationType.HUGGINGFACE: {
        "HUGGINGFACE_API_TOKEN": ("token", True),
        "HF_TOKEN": ("token", True),
    },
}
SUPPORTED_TYPES = (IntegrationType.S3, IntegrationType.HUGGINGFACE, IntegrationType.CUSTOM)


@dataclass
class Variables:
    config: dict = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)


def check_type(integration_type: str) -> None:
    if integration_type not in SUPPORTED_TYPES:
        supported = ", ".join(SUPPORTED_TYPES)
        raise ValidationError(f"Integration type {integration_type} is not supported here; use one of {supported}.")


def split_variables(integration_type: str, variables: list[dict], *, known_public: set[str] | frozenset = frozenset()
                    ) -> Variables:
    """Values given for the variables, as our config (plain) and secrets (encrypted); absent values are skipped."""
    result = Variables()
    custom_public: dict[str, str] = {}
    if not isinstance(variables, list) or not all(isinstance(v, dict) for v in variables):
        raise ValidationError('variables must be a list of {"name": ..., "value": ...} objects.')
    for variable in variables:
        name, value = str(variable.get("name") or ""), variable.get("value")
        if not name or value is None:
            continue
        if integration_type == IntegrationType.CUSTOM:
            public = variable.get("sensitivity", PUBLIC if name in known_public else "") == PUBLIC
            (custom_public if public else result.secrets)[name] = str(value)
            continue
        ours, secret = _known_variable(integration_type, name)
        (result.secrets if secret else result.config)[ours] = str(value)
    if custom_public:
        result.config["variables"] = custom_public
    return result


def _known_variable(integration_type: str, name: str) -> tuple[str, bool]:
    known = VARIABLES.get(integration_type, {})
    if name not in known:
        raise ValidationError(f"Unknown variable {name} for {integration_type}; expected {', '.join(known)}.")
    return known[name]
