"""Control plane: ``GET /_mock/openapi.json``, an OpenAPI 3 document generated with apispec from every route
on the control blueprint.

Conventions for route authors (picked up without registering anything here):
- a view's docstring may end in YAML after a ``---`` line, keyed by HTTP method (apispec's Flask style);
  ``schema: SomeSchema`` names any marshmallow schema class by its class name;
- every marshmallow ``Schema`` defined in a ``hybridsoa.mock.api.control.*`` module becomes a component;
- a route without YAML still appears, with its docstring's first line as summary and its path parameters.
"""

from __future__ import annotations

import inspect
import re
import sys

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.yaml_utils import load_operations_from_docstring
from flask import current_app, jsonify
from marshmallow import Schema

from .blueprint import bp

_METHODS = ("get", "put", "post", "patch", "delete")
_CONVERTER_RE = re.compile(r"<(?:(?P<conv>[a-zA-Z_][a-zA-Z0-9_]*)(?:\([^)]*\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>")
_CACHE_KEY = "hybridsoa_openapi"


def _openapi_path(rule: str) -> str:
    return _CONVERTER_RE.sub(lambda m: "{" + m.group("name") + "}", rule)


def _path_parameters(rule: str) -> list[dict]:
    params = []
    for match in _CONVERTER_RE.finditer(rule):
        kind = {"int": "integer", "float": "number"}.get(match.group("conv") or "", "string")
        params.append({"name": match.group("name"), "in": "path", "required": True, "schema": {"type": kind}})
    return params


def _summary(view) -> str:
    doc = inspect.getdoc(view) or ""
    return doc.split("\n---", 1)[0].strip().split("\n", 1)[0].strip() or view.__name__.replace("_", " ")


def _tag(view) -> str:
    return (getattr(view, "__module__", "") or "control").rsplit(".", 1)[-1]


def _control_schemas() -> list[type[Schema]]:
    found, seen = [], set()
    for name, module in sorted(sys.modules.items()):
        if module is None or not name.startswith("hybridsoa.mock.api.control"):
            continue
        for _attr, obj in sorted(vars(module).items()):
            if (
                inspect.isclass(obj)
                and issubclass(obj, Schema)
                and obj is not Schema
                and obj.__module__ == name
                and obj not in seen
            ):
                seen.add(obj)
                found.append(obj)
    return found


def _register_schemas(spec: APISpec) -> None:
    names: set[str] = set()
    for schema in _control_schemas():
        name = (
            schema.__name__[:-6] if schema.__name__.endswith("Schema") and len(schema.__name__) > 6 else schema.__name__
        )
        if name in spec.components.schemas:
            # Already there: registered as a nested field of an earlier schema, or a same-named class.
            if name in names:
                name = f"{schema.__module__.rsplit('.', 1)[-1]}.{name}"
            else:
                continue
        try:
            spec.components.schema(name, schema=schema)
            names.add(name)
        except Exception:  # noqa: BLE001 -- one odd schema must not take the whole document down
            current_app.logger.warning("openapi: schema %s skipped", schema.__name__)


def _operations(view, methods: list[str], endpoint: str) -> dict:
    try:
        documented = load_operations_from_docstring(inspect.getdoc(view) or "") or {}
    except Exception:  # noqa: BLE001 -- malformed YAML in a docstring: fall back to the summary
        documented = {}
    operations = {}
    for method in methods:
        op = documented.get(method)
        op = dict(op) if isinstance(op, dict) else {}
        op.setdefault("summary", _summary(view))
        op.setdefault("tags", [_tag(view)])
        op.setdefault("operationId", f"{endpoint.split('.', 1)[-1]}_{method}")
        responses = op.get("responses") if isinstance(op.get("responses"), dict) else {}
        for response in list(responses.values()):
            if isinstance(response, dict):
                response.setdefault("description", "")
        if not any(str(s).startswith("2") for s in responses):
            ok = "204" if method == "delete" and _answers_no_content(view) else "200"
            responses[ok] = {"description": "No content." if ok == "204" else "OK"}
        if endpoint not in _NEVER_REFUSED:
            # Every other operation may refuse input (400) or name a tenant/object that does not exist (404), in the
            # one control-plane error shape.
            for status, text in (("400", "Invalid input (nothing changes)."), ("404", "No such tenant or object.")):
                existing = responses.get(status) if isinstance(responses.get(status), dict) else None
                if existing is None:
                    responses[status] = {"description": text, "content": _ERROR_CONTENT}
                else:
                    existing.setdefault("content", _ERROR_CONTENT)
        op["responses"] = responses
        operations[method] = op
    return operations


#: Operations that answer for any input (no body, no parameter, no tenant).
_NEVER_REFUSED = {"control.health", "control.openapi_document", "control.list_tenants"}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}},
        }
    },
}


def _answers_no_content(view) -> bool:
    # A DELETE view that ends in ``return "", 204`` (the control plane's convention for "done, nothing to show").
    try:
        return ", 204" in inspect.getsource(view)
    except (OSError, TypeError):
        return False


def _tighten(document: dict) -> None:
    """Make the generated document say what the views enforce: a request body whose schema has required
    properties is itself required, and an optional nested object is that object or null (apispec renders it as
    'any object', which would make every junk object look valid)."""
    schemas = document.get("components", {}).get("schemas", {})
    for item in document.get("paths", {}).values():
        for op in item.values():
            body = op.get("requestBody") if isinstance(op, dict) else None
            ref = ((body or {}).get("content", {}).get("application/json", {}).get("schema") or {}).get("$ref", "")
            target = schemas.get(ref.rsplit("/", 1)[-1]) if ref else None
            if target is not None and target.get("required") and "required" not in body:
                body["required"] = True
    for schema in schemas.values():
        for prop in (schema.get("properties") or {}).values():
            alternatives = prop.get("anyOf") if isinstance(prop, dict) else None
            if (
                isinstance(alternatives, list)
                and len(alternatives) == 2
                and "$ref" in alternatives[0]
                and alternatives[1] == {"type": "object", "nullable": True}
            ):
                prop["anyOf"] = [alternatives[0]]
                prop["nullable"] = True


def build_spec(app) -> dict:
    """Generate the OpenAPI 3 document of every route whose endpoint is on the control blueprint."""
    spec = APISpec(
        title="hybridsoa control plane",
        version="1",
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Mock-only endpoints under /_mock: tenants, clock, on-prem AD, sync, faults, "
            "journal, audit, snapshots. Needs a bearer token only when the server "
            "runs with --control-token."
        },
    )
    spec.components.security_scheme("controlToken", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", _ERROR_SCHEMA)
    _register_schemas(spec)
    rules = sorted(
        (r for r in app.url_map.iter_rules() if r.endpoint.startswith("control.")), key=lambda r: (r.rule, r.endpoint)
    )
    for rule in rules:
        view = app.view_functions.get(rule.endpoint)
        if view is None:
            continue
        methods = [m for m in _METHODS if m.upper() in (rule.methods or ())]
        if not methods:
            continue
        path = _openapi_path(rule.rule)
        operations = _operations(view, methods, rule.endpoint)
        try:
            spec.path(path=path, operations=operations, parameters=_path_parameters(rule.rule))
        except Exception:  # noqa: BLE001 -- e.g. an unresolvable schema name: document the route plainly
            plain = {
                m: {
                    "summary": _summary(view),
                    "tags": [_tag(view)],
                    "operationId": f"{rule.endpoint.split('.', 1)[-1]}_{m}",
                    "responses": {"200": {"description": "OK"}},
                }
                for m in methods
            }
            spec.path(path=path, operations=plain, parameters=_path_parameters(rule.rule))
    document = spec.to_dict()
    _tighten(document)
    document["security"] = [{}, {"controlToken": []}]
    return document


@bp.get("/openapi.json")
def openapi_document():
    """This OpenAPI document.
    ---
    get:
      summary: OpenAPI document of the control plane
      tags: [openapi]
      responses:
        200:
          description: OpenAPI 3.0 JSON.
    """
    document = current_app.extensions.get(_CACHE_KEY)
    if document is None:
        document = build_spec(current_app)
        current_app.extensions[_CACHE_KEY] = document
    return jsonify(document)
