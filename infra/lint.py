"""Static checks of the deployable infrastructure; exits non-zero if any fails.

1. cfn-lint on ``template.yaml``;
2. ``sam validate --lint`` (offline: region set, telemetry off);
3. statelint on the state machine definition with its ``${...}`` placeholders filled with dummy values;
4. the definition's placeholders and the template's ``DefinitionSubstitutions`` keys are the same set.

Usage: ``.venv/bin/python infra/lint.py`` from the repository root (``make lint``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
STATE_MACHINE_RESOURCE = "OcrStateMachine"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
DUMMY_ACCOUNT = "123456789012"
DUMMY_REGION = "us-east-1"
COMMAND_TIMEOUT_SECONDS = 300


class CfnLoader(yaml.SafeLoader):
    """YAML loader that reads CloudFormation short-form tags (``!Ref x`` → ``{"Ref": "x"}``)."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    name = tag_suffix if tag_suffix in ("Ref", "Condition") else f"Fn::{tag_suffix}"
    return {name: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as plain data, short-form tags turned into their long form."""
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=CfnLoader)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a mapping")
    return data


def state_machine_properties(template: dict[str, Any]) -> dict[str, Any]:
    """Properties of the workflow resource."""
    props: dict[str, Any] = template["Resources"][STATE_MACHINE_RESOURCE]["Properties"]
    return props


def definition_path(template: dict[str, Any]) -> Path:
    """The ASL file the template deploys."""
    return ROOT / str(state_machine_properties(template)["DefinitionUri"])


def placeholders(asl_text: str) -> set[str]:
    """Names of the ``${...}`` placeholders in a definition."""
    return set(PLACEHOLDER.findall(asl_text))


def fill_placeholders(asl_text: str, names: set[str]) -> str:
    """Replace each placeholder with a dummy of the right shape (ARN for ``*Arn``, else an integer)."""

    def dummy(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            return match.group(0)
        if name.endswith("FunctionArn"):
            return f"arn:aws:lambda:{DUMMY_REGION}:{DUMMY_ACCOUNT}:function:{name}"
        if name.endswith("Arn"):
            return f"arn:aws:states:{DUMMY_REGION}:{DUMMY_ACCOUNT}:stateMachine:{name}"
        return "60"

    return PLACEHOLDER.sub(dummy, asl_text)


def _run(label: str, command: list[str], env: dict[str, str] | None = None) -> bool:
    print(f"== {label}: {' '.join(command)}", flush=True)
    try:
        completed = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        print(f"{label} could not run: {exc}")
        return False
    output = (completed.stdout + completed.stderr).strip()
    if output:
        print(output)
    print(f"{label}: {'ok' if completed.returncode == 0 else f'FAILED (exit {completed.returncode})'}")
    return completed.returncode == 0


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def check_substitutions(template: dict[str, Any]) -> bool:
    """The ASL's placeholders and the template's DefinitionSubstitutions keys must match exactly."""
    asl_names = placeholders(definition_path(template).read_text(encoding="utf-8"))
    keys = set(state_machine_properties(template).get("DefinitionSubstitutions", {}))
    ok = asl_names == keys
    print("== substitutions: ASL placeholders vs DefinitionSubstitutions")
    if not ok:
        print(f"only in ASL: {sorted(asl_names - keys)}; only in template: {sorted(keys - asl_names)}")
    print(f"substitutions: {'ok' if ok else 'FAILED'}")
    return ok


def check_statelint(template: dict[str, Any]) -> bool:
    """statelint on the definition with dummy values for its placeholders."""
    text = definition_path(template).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        filled = Path(tmp) / "filled.asl.json"
        filled.write_text(fill_placeholders(text, placeholders(text)), encoding="utf-8")
        return _run("statelint", [_tool("statelint"), str(filled)])


def main() -> int:
    """Run every check (all of them, even after a failure); 0 only if all pass."""
    template = load_template()
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", DUMMY_REGION)}
    env["SAM_CLI_TELEMETRY"] = "0"
    results = [
        _run("cfn-lint", [_tool("cfn-lint"), str(TEMPLATE)], env),
        _run("sam validate", [_tool("sam"), "validate", "--lint", "--template-file", str(TEMPLATE)], env),
        check_statelint(template),
        check_substitutions(template),
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
