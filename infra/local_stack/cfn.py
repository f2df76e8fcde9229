"""What the local stack reads and checks before it starts anything (no moto, boto3, SAM translator or
cfn-lint): `outline` reads a template's parameters and resource types, `check_overrides` checks parameter
values as CloudFormation does, `function_ids` lists the functions, `check_port_free` probes a port.
`load_yaml` reads a whole CloudFormation/SAM template with cfn-lint's loader (short tags such as `!Ref`,
`!Sub`, `!GetAtt` become their long form), for the stack and `infra/lint.py`. Intrinsics are resolved by
moto's CloudFormation (`local_stack.provision`)."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
HOST = "127.0.0.1"
"""The loopback address every local server binds."""
FUNCTION_TYPES = frozenset({"AWS::Serverless::Function", "AWS::Lambda::Function"})


class TemplateError(ValueError):
    """The template cannot be read or one of its intrinsics cannot be resolved locally."""


class ParameterError(TemplateError):
    """A parameter override is unknown or breaks its declared constraints (message names both)."""


class PortInUse(ValueError):
    """The requested port is taken."""

    def __init__(self, port: int, host: str = HOST):
        super().__init__(f"port {port} on {host} is already in use; choose another with --port (0: any free)")
        self.port = port


class _Outline(yaml.CSafeLoader):
    """YAML safe loading in which every CloudFormation tag (`!Ref`, `!Sub`, ...) reads as None: enough to
    see the Parameters and the resources' types before anything is imported (`outline`)."""


_Outline.add_multi_constructor("!", lambda loader, suffix, node: None)


def load_yaml(text: str) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (YAML or JSON) into long-form data, with cfn-lint's loader
    (short tags become their long form; a key twice in one mapping is an error). cfn-lint is imported
    here, on first use: the CLI's checks read the template with `outline` and never need it."""
    from cfnlint.decode import cfn_yaml

    return _mapping(cfn_yaml.loads, text)


def _mapping(parse: Any, text: str) -> dict[str, Any]:
    """`parse(text)`, which must be a mapping; `TemplateError` otherwise."""
    try:
        data = parse(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"template is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError("template must be a mapping at the top level")
    return data


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}") from exc


def outline(path: Path) -> dict[str, Any]:
    """The template at `path` with its intrinsics left out (each tagged value is None): its parameters'
    declarations and its resources' types, read in milliseconds. `TemplateError` when it is unreadable."""
    return _mapping(lambda text: yaml.load(text, Loader=_Outline), _text(path))


def read_template(path: Path) -> dict[str, Any]:
    """`load_yaml` of the file at `path`; `TemplateError` when it cannot be read."""
    return load_yaml(_text(path))


def _section(template_path: Path, name: str) -> dict[str, Any]:
    section = outline(template_path).get(name) or {}
    if not isinstance(section, dict):
        raise TemplateError(f"{name} must be a mapping")
    return section


def declared_parameters(template_path: Path) -> dict[str, Any]:
    """The template's `Parameters` section as written (no resolution)."""
    return _section(template_path, "Parameters")


def function_ids(template_path: Path) -> list[str]:
    """Logical ids of the template's functions (SAM or plain Lambda), sorted."""
    resources = _section(template_path, "Resources")
    return sorted(
        lid
        for lid, body in resources.items()
        if isinstance(body, dict) and body.get("Type") in FUNCTION_TYPES
    )


def check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    """Raise `ParameterError` unless `value` meets the constraints CloudFormation checks for `name`."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in {str(a) for a in allowed}:
        choices = ", ".join(str(a) for a in allowed)
        raise ParameterError(f"parameter {name}={value!r} is not allowed; allowed values: {choices}")
    pattern = spec.get("AllowedPattern")
    if pattern is not None and re.fullmatch(str(pattern), value) is None:
        raise ParameterError(f"parameter {name}={value!r} does not match its AllowedPattern {pattern}")
    if str(spec.get("Type", "String")) != "Number":
        return
    try:
        number = float(value)
    except ValueError:
        raise ParameterError(f"parameter {name}={value!r} is not a number") from None
    low, high = spec.get("MinValue"), spec.get("MaxValue")
    if (low is not None and number < float(low)) or (high is not None and number > float(high)):
        span = f"{low if low is not None else '-inf'} to {high if high is not None else 'inf'}"
        raise ParameterError(f"parameter {name}={value} is out of range; allowed values: {span}")


def check_known(declared: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
    """Raise `ParameterError` naming the overrides the template does not declare."""
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ParameterError(
            f"unknown parameter {', '.join(unknown)}; the template declares: {', '.join(declared)}"
        )


def check_overrides(template_path: Path, overrides: Mapping[str, str]) -> None:
    """Raise `ParameterError` for an unknown override or one breaking its constraints (nothing started)."""
    declared = declared_parameters(template_path)
    check_known(declared, overrides)
    for name, value in overrides.items():
        check_parameter(name, declared[name], str(value))


def check_port_free(port: int, host: str = HOST) -> None:
    """Raise `PortInUse` unless `port` can be bound on `host` (0 always can)."""
    if port == 0:
        return
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
    except OSError as exc:
        raise PortInUse(port, host) from exc
    finally:
        probe.close()
