"""The deployable template as plain data, read by cfn-lint's own CloudFormation YAML loader."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "template.yaml"


@cache
def template() -> dict[str, Any]:
    """``template.yaml`` with short-form intrinsics in their long form (``!Ref x`` → ``{"Ref": "x"}``)."""
    data: dict[str, Any] = cfn_yaml.load(str(TEMPLATE))
    return data


def resource(logical_id: str) -> dict[str, Any]:
    """One resource of the template (KeyError if absent)."""
    body: dict[str, Any] = template()["Resources"][logical_id]
    return body


def properties(logical_id: str) -> dict[str, Any]:
    """The ``Properties`` of one resource."""
    props: dict[str, Any] = resource(logical_id)["Properties"]
    return props


def resources_of_type(kind: str) -> dict[str, dict[str, Any]]:
    """Every resource of one type, by logical id."""
    return {lid: body for lid, body in template()["Resources"].items() if body.get("Type") == kind}


def refers_to(node: Any, logical_id: str) -> bool:
    """Whether ``node`` contains a ``Ref``/``Fn::GetAtt``/``Fn::Sub`` of ``logical_id``."""
    if isinstance(node, dict):
        if node.get("Ref") == logical_id:
            return True
        getatt = node.get("Fn::GetAtt")
        if isinstance(getatt, list) and getatt and getatt[0] == logical_id:
            return True
        return any(refers_to(value, logical_id) for value in node.values())
    if isinstance(node, list):
        return any(refers_to(item, logical_id) for item in node)
    if isinstance(node, str):
        return "${" + logical_id + "}" in node or "${" + logical_id + "." in node
    return False
