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

from local_stack.cfn import load_yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
DUMMY_ACCOUNT = "123456789012"
DUMMY_REGION = "us-east-1"
COMMAND_TIMEOUT_SECONDS = 300


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data, short-form tags in their long form (the local stack's cfn-lint loader)."""
    return load_yaml(path.read_text(encoding="utf-8"))


def state_machines(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Properties of every state machine whose definition is a local file (``DefinitionUri``), by id."""
    return {
        logical_id: body.get("Properties") or {}
        for logical_id, body in (template.get("Resources") or {}).items()
        if body.get("Type") in STATE_MACHINE_TYPES
        and isinstance(body.get("Properties", {}).get("DefinitionUri"), str)
    }


def state_machine_properties(template: dict[str, Any]) -> dict[str, Any]:
    """Properties of the first such state machine (the workflow)."""
    machines = state_machines(template)
    if not machines:
        raise ValueError("the template declares no state machine with a local DefinitionUri")
    return next(iter(machines.values()))


def definition_path(template: dict[str, Any], props: dict[str, Any] | None = None) -> Path:
    """The ASL file a state machine deploys (default: the workflow's)."""
    return ROOT / str((props or state_machine_properties(template))["DefinitionUri"])


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
    """Each state machine's ASL placeholders and DefinitionSubstitutions keys must match exactly."""
    ok = True
    for logical_id, props in state_machines(template).items():
        asl_names = placeholders(definition_path(template, props).read_text(encoding="utf-8"))
        keys = set(props.get("DefinitionSubstitutions", {}))
        print(f"== substitutions of {logical_id}: ASL placeholders vs DefinitionSubstitutions")
        if asl_names != keys:
            ok = False
            print(f"only in ASL: {sorted(asl_names - keys)}; only in template: {sorted(keys - asl_names)}")
    print(f"substitutions: {'ok' if ok else 'FAILED'}")
    return ok


def check_statelint(template: dict[str, Any]) -> bool:
    """statelint on each definition with dummy values for its placeholders."""
    results = []
    for props in state_machines(template).values():
        text = definition_path(template, props).read_text(encoding="utf-8")
        with tempfile.TemporaryDirectory() as tmp:
            filled = Path(tmp) / "filled.asl.json"
            filled.write_text(fill_placeholders(text, placeholders(text)), encoding="utf-8")
            results.append(_run("statelint", [_tool("statelint"), str(filled)]))
    return all(results)


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
