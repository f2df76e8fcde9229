"""CloudFormation YAML: `load_yaml` reads a template with cfn-lint's loader (short tags such as `!Ref`,
`!Sub`, `!GetAtt` become their long form). Intrinsics are resolved by moto's CloudFormation
(`local_stack.provision`)."""

from __future__ import annotations

from typing import Any

import yaml
from cfnlint.decode import cfn_yaml


class TemplateError(ValueError):
    """The template cannot be read or one of its intrinsics cannot be resolved locally."""


def load_yaml(text: str) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into long-form data, with cfn-lint's loader."""
    try:
        data = cfn_yaml.loads(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"template is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError("template must be a mapping at the top level")
    return data
