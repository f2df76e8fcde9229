"""CloudFormation YAML and intrinsic functions, resolved locally.

`load_yaml` turns a template (with short tags such as `!Ref`, `!Sub`, `!GetAtt`) into data in the long
form (`{"Ref": ...}`, `{"Fn::Sub": ...}`), through cfn-lint's loader. `Resolver.resolve` evaluates the
intrinsics the template uses (`Ref`, `GetAtt`, `Sub`, `Join`, `If`, `Equals`, `Not`, `ToJsonString`)
against known parameter values, conditions and resource identities; any other one is refused by name.
Both are pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from cfnlint.decode import cfn_yaml


class TemplateError(ValueError):
    """The template cannot be read or one of its intrinsics cannot be resolved locally."""


NO_VALUE = object()
"""Marker for `AWS::NoValue`: the enclosing key or list item is dropped."""


def load_yaml(text: str) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into long-form data, with cfn-lint's loader."""
    try:
        data = cfn_yaml.loads(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"template is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError("template must be a mapping at the top level")
    return data


_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Resolver:
    """Evaluates intrinsics against known values.

    `refs` maps a parameter, pseudo parameter or resource logical id to its `Ref` value;
    `attributes` maps (logical id, attribute) to its `Fn::GetAtt` value; `conditions` holds evaluated
    conditions. An unknown name raises `TemplateError` rather than leaving a placeholder behind.
    """

    refs: Mapping[str, Any]
    attributes: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    conditions: Mapping[str, bool] = field(default_factory=dict)

    def resolve(self, node: Any) -> Any:
        """Return `node` with every intrinsic replaced by its value; `AWS::NoValue` entries are dropped."""
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self._ref(value)
            if key == "Condition" and isinstance(value, str):
                return self.condition(value)
            if key.startswith("Fn::"):
                return self._function(key[4:], value)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def condition(self, name: str) -> bool:
        """Return the evaluated condition `name`."""
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self.conditions[name]

    def _ref(self, name: Any) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if not isinstance(name, str) or name not in self.refs:
            raise TemplateError(f"cannot resolve Ref {name!r}")
        return self.refs[name]

    def _getatt(self, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(".", 1)
        if not (isinstance(value, list) and len(value) == 2):
            raise TemplateError(f"malformed Fn::GetAtt {value!r}")
        logical_id, attribute = (self.resolve(part) for part in value)
        key = (logical_id, attribute)
        if key not in self.attributes:
            raise TemplateError(f"cannot resolve Fn::GetAtt {logical_id}.{attribute}")
        return self.attributes[key]

    def _function(self, name: str, value: Any) -> Any:
        handlers: dict[str, Callable[[Any], Any]] = {
            "GetAtt": self._getatt,
            "Sub": self._sub,
            "Join": self._join,
            "If": self._if,
            "Equals": self._equals,
            "Not": lambda v: not self._truth(self.resolve(v)[0]),
            # AWS::LanguageExtensions: compact JSON text of the resolved value.
            "ToJsonString": lambda v: json.dumps(self.resolve(v), separators=(",", ":")),
        }
        handler = handlers.get(name)
        if handler is None:
            raise TemplateError(f"Fn::{name} is not supported by the local stack")
        return handler(value)

    def _truth(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        raise TemplateError(f"condition operand must be a boolean, got {value!r}")

    def _sub(self, value: Any) -> str:
        if isinstance(value, str):
            template, variables = value, {}
        elif isinstance(value, list) and len(value) == 2 and isinstance(value[1], dict):
            template, variables = value[0], self.resolve(value[1])
        else:
            raise TemplateError(f"malformed Fn::Sub {value!r}")
        if not isinstance(template, str):
            raise TemplateError(f"Fn::Sub template must be a string, got {template!r}")

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name not in self.refs:
                logical_id, attribute = name.split(".", 1)
                return str(self._getatt([logical_id, attribute]))
            return str(self._ref(name))

        return _SUB_VAR.sub(replace, template)

    def _join(self, value: Any) -> str:
        if not (isinstance(value, list) and len(value) == 2):
            raise TemplateError(f"malformed Fn::Join {value!r}")
        delimiter, items = value[0], self.resolve(value[1])
        if not isinstance(items, list):
            raise TemplateError(f"Fn::Join needs a list, got {items!r}")
        return str(delimiter).join(str(item) for item in items)

    def _if(self, value: Any) -> Any:
        if not (isinstance(value, list) and len(value) == 3):
            raise TemplateError(f"malformed Fn::If {value!r}")
        return self.resolve(value[1] if self.condition(value[0]) else value[2])

    def _equals(self, value: Any) -> bool:
        if not (isinstance(value, list) and len(value) == 2):
            raise TemplateError(f"malformed Fn::Equals {value!r}")
        left, right = self.resolve(value)
        return str(left) == str(right)
