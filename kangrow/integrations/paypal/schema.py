"""PayPal's OpenAPI contracts as validators: who sends what, and is it well-formed?

The fake server validates every request body it receives with these, and the adapter's tests check
that every request the client sends matches an operation of the published contract (method, path,
path/query parameters, declared headers, JSON body).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs

SPEC_DIR = Path(__file__).resolve().parent / "specs"
PAYOUTS_SPEC = "paypal-payments-payouts-batch-v1.openapi.json"
WEBHOOKS_SPEC = "paypal-notifications-webhooks-v1.openapi.json"
TOKEN_PATH = "/v1/oauth2/token"  # components.securitySchemes.Oauth2 tokenUrl


@cache
def load_spec(name: str) -> dict[str, Any]:
    with (SPEC_DIR / name).open(encoding="utf-8") as fh:
        spec: dict[str, Any] = json.load(fh)
    return spec


@cache
def _validator(spec_name: str, ref: str) -> Any:
    spec = load_spec(spec_name)
    # OpenAPI 3.0 schemas are (close to) JSON Schema draft 4; local $refs resolve against the
    # wrapping document, so the components travel with the reference.
    return jsonschema_rs.Draft4Validator(
        {"$ref": ref, "components": spec["components"]}, validate_formats=True
    )


def schema_errors(spec_name: str, ref: str, instance: Any) -> list[str]:
    """Every way `instance` violates the schema at `ref` (e.g. '#/components/schemas/payout')."""
    errors = []
    for error in _validator(spec_name, ref).iter_errors(instance):
        where = "/".join(str(part) for part in error.instance_path) or "(root)"
        errors.append(f"{where}: {error.message}")
    return errors


@dataclass(frozen=True)
class Operation:
    spec_name: str
    method: str
    template: str
    path_params: dict[str, str]
    definition: dict[str, Any]

    @property
    def operation_id(self) -> str:
        return str(self.definition.get("operationId", ""))

    def parameters(self) -> list[dict[str, Any]]:
        spec = load_spec(self.spec_name)
        resolved = []
        for param in self.definition.get("parameters", []):
            if "$ref" in param:
                name = param["$ref"].rsplit("/", 1)[-1]
                param = spec["components"]["parameters"][name]
            resolved.append(param)
        return resolved

    def body_schema_ref(self) -> str | None:
        body = self.definition.get("requestBody")
        if not body:
            return None
        ref: str = body["content"]["application/json"]["schema"]["$ref"]
        return ref

    def response_schema_ref(self, status: int) -> str | None:
        responses = self.definition.get("responses", {})
        response = responses.get(str(status)) or responses.get("default")
        if not response or "content" not in response:
            return None
        ref: str = response["content"]["application/json"]["schema"]["$ref"]
        return ref


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(f"^{pattern}$")


def find_operation(method: str, path: str) -> Operation | None:
    """The published operation for `method path`, or None when PayPal has no such operation."""
    method = method.lower()
    for spec_name in (PAYOUTS_SPEC, WEBHOOKS_SPEC):
        for template, operations in load_spec(spec_name)["paths"].items():
            match = _template_regex(template).match(path)
            if match and method in operations:
                return Operation(spec_name, method, template, match.groupdict(), operations[method])
    return None


def _coerce(value: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    if kind == "boolean":
        return {"true": True, "false": False}.get(value, value)
    return value


def _param_errors(spec_name: str, param: dict[str, Any], raw: str | None) -> list[str]:
    if raw is None:
        return (
            [f"{param['in']} parameter {param['name']} is required"]
            if param.get("required")
            else []
        )
    schema = param.get("schema", {})
    validator = jsonschema_rs.Draft4Validator(schema)
    return [
        f"{param['in']} parameter {param['name']}: {error.message}"
        for error in validator.iter_errors(_coerce(raw, schema))
    ]


def request_errors(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    has_body: bool = False,
) -> list[str]:
    """Every way a request departs from PayPal's contract; [] means it conforms.

    `path` is the URL path without the query string; `headers` keys are compared
    case-insensitively; `body` is the parsed JSON body (with `has_body` telling a JSON `null`
    apart from no body at all).
    """
    if method.upper() == "POST" and path == TOKEN_PATH:
        return []  # form-encoded OAuth2 exchange: checked by the caller (grant type, Basic auth)
    operation = find_operation(method, path)
    if operation is None:
        return [f"{method.upper()} {path} is not an operation of PayPal's published API"]
    errors: list[str] = []
    query = query or {}
    lowered = {key.lower(): value for key, value in (headers or {}).items()}
    declared_query = set()
    for param in operation.parameters():
        location = param["in"]
        if location == "path":
            errors += _param_errors(
                operation.spec_name, param, operation.path_params.get(param["name"])
            )
        elif location == "query":
            declared_query.add(param["name"])
            errors += _param_errors(operation.spec_name, param, query.get(param["name"]))
        elif location == "header":
            errors += _param_errors(operation.spec_name, param, lowered.get(param["name"].lower()))
    errors += [f"query parameter {name} is not declared" for name in set(query) - declared_query]
    ref = operation.body_schema_ref()
    if ref is None:
        if has_body:
            errors.append(f"{operation.operation_id} takes no request body")
    elif not has_body:
        errors.append(f"{operation.operation_id} needs a JSON request body")
    else:
        errors += schema_errors(operation.spec_name, ref, body)
    return errors
