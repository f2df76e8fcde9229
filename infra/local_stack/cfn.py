"""CloudFormation YAML and the intrinsic functions a SAM template uses, resolved locally.

`load_yaml` reads a template (short tags such as `!Ref`, `!Sub`, `!GetAtt` become their long form) with
cfn-lint's loader. `Resolver.resolve` evaluates `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join` (what SAM makes
of an inline state machine definition), `Fn::If`, `Fn::Equals`, `Fn::Not`, `Condition` and
`Fn::ToJsonString`; any other intrinsic, a malformed one or an unknown name raises `TemplateError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from cfnlint.decode import cfn_yaml


class TemplateError(ValueError):
    """The template cannot be read or one of its intrinsics cannot be resolved locally."""


NO_VALUE = object()
"""Marker for `AWS::NoValue`: the enclosing key or list item is dropped."""

_SUB_VAR = re.compile(r"\$\{([^}]*)\}")


def load_yaml(text: str) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into long-form data, with cfn-lint's loader."""
    try:
        data = cfn_yaml.loads(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"template is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError("template must be a mapping at the top level")
    return data


@dataclass(frozen=True)
class Resolver:
    """Evaluates intrinsics: `values` maps what a `Ref` or `${Name}` names (parameters, pseudo parameters,
    logical ids) to its value, and `"LogicalId.Attribute"` to its `Fn::GetAtt` value; `conditions` holds
    the template's conditions as written (evaluated when used: they may refer to each other)."""

    values: Mapping[str, Any]
    conditions: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, node: Any) -> Any:
        """Return `node` with every intrinsic replaced by its value; `AWS::NoValue` entries are dropped."""
        if isinstance(node, list):
            return [item for item in map(self.resolve, node) if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, argument),) = node.items()
            if key == "Ref" or key.startswith("Fn::") or (key == "Condition" and isinstance(argument, str)):
                try:
                    return self._intrinsic(key, argument)
                except (TypeError, AttributeError) as exc:
                    raise TemplateError(f"malformed {key}: {argument!r}") from exc
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def value(self, name: str) -> Any:
        """What `Ref name` (or `${name}`, `"Id.Attribute"` for `Fn::GetAtt`) stands for."""
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in self.values:
            raise TemplateError(f"cannot resolve {name!r}")
        return self.values[name]

    def condition(self, name: str) -> bool:
        """The value of the condition `name`."""
        if name not in self.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self._boolean(self.resolve(self.conditions[name]))

    def _intrinsic(self, key: str, argument: Any) -> Any:
        match key, argument:
            case (("Ref" | "Fn::GetAtt"), str()):
                return self.value(argument)
            case "Fn::GetAtt", [str(), str()]:
                return self.value(".".join(argument))
            case "Condition", str():
                return self.condition(argument)
            case "Fn::Sub", str():
                return self._sub(argument, {})
            case "Fn::Sub", [str(), dict()]:
                return self._sub(argument[0], self.resolve(argument[1]))
            case "Fn::Join", [str(delimiter), items] if isinstance(joined := self.resolve(items), list):
                return delimiter.join(str(item) for item in joined)
            case "Fn::If", [str(), yes, no]:
                return self.resolve(yes if self.condition(argument[0]) else no)
            case "Fn::Equals", [left, right]:
                return str(self.resolve(left)) == str(self.resolve(right))
            case "Fn::Not", [operand]:
                return not self._boolean(self.resolve(operand))
            case "Fn::ToJsonString", _:  # AWS::LanguageExtensions: compact JSON of the resolved value
                return json.dumps(self.resolve(argument), separators=(",", ":"))
        raise TemplateError(f"{key} {argument!r} is malformed or not supported by the local stack")

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            return str(variables[name] if name in variables else self.value(name))

        return _SUB_VAR.sub(replace, text)

    @staticmethod
    def _boolean(value: Any) -> bool:
        if not isinstance(value, bool):
            raise TemplateError(f"a condition must be a boolean, got {value!r}")
        return value
