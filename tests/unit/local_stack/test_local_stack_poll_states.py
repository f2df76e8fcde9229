"""Poll states are found from the state machine's structure (a Wait leading to a Task), not from names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from local_stack.executions import poll_states

ASL = Path(__file__).resolve().parents[3] / "infra" / "ocr_pipeline.asl.json"


def test_project_workflow_poll_state_is_the_task_after_its_wait() -> None:
    # GIVEN the project's definition (placeholders filled with numbers)
    definition = json.loads(re.sub(r"\$\{[A-Za-z0-9_]+\}", "1", ASL.read_text(encoding="utf-8")))
    waits = {name for name, state in definition["States"].items() if state["Type"] == "Wait"}

    # WHEN / THEN the poll states are exactly the Tasks its Wait states lead to
    expected = {definition["States"][w]["Next"] for w in waits} & {
        name for name, state in definition["States"].items() if state["Type"] == "Task"
    }
    assert poll_states(definition) == expected and expected


def test_renamed_states_and_nested_branches_are_still_found() -> None:
    # GIVEN a wait-then-check loop named without any "check" or "poll", inside a Parallel branch too
    loop = {
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Ask again"},
            "Ask again": {"Type": "Task", "Resource": "arn", "End": True},
            "Fan": {
                "Type": "Parallel",
                "Branches": [
                    {
                        "StartAt": "Nap",
                        "States": {
                            "Nap": {"Type": "Wait", "Seconds": 1, "Next": "Look"},
                            "Look": {"Type": "Task", "Resource": "arn", "End": True},
                        },
                    }
                ],
                "End": True,
            },
            "Status": {"Type": "Task", "Resource": "arn", "End": True},
        },
    }

    # WHEN / THEN the Tasks after the Waits are polls; a Task merely named "Status" is not
    assert poll_states(json.dumps(loop)) == {"Ask again", "Look"}
