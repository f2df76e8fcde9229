"""`local_stack.cfn`: the template reader and checks the CLI runs before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_stack.cfn import TemplateError, function_ids, load_yaml, outline

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    "template", ["template.yaml", "tests/integration/local_stack/fixtures/template.yaml"]
)
def test_outline_reads_parameters_and_types_as_the_full_loader_does(template: str) -> None:
    # GIVEN one of the project's templates
    path = ROOT / template

    # WHEN it is outlined (the CLI's checks) and loaded in full (cfn-lint's loader, the stack's)
    quick, full = outline(path), load_yaml(path.read_text(encoding="utf-8"))

    # THEN the parameters' declarations and every resource's type are the same
    assert quick["Parameters"] == full["Parameters"]
    assert {k: v["Type"] for k, v in quick["Resources"].items()} == {
        k: v["Type"] for k, v in full["Resources"].items()
    }


def test_outline_reads_tagged_values_as_none(tmp_path: Path) -> None:
    # GIVEN a template whose values use short tags
    path = tmp_path / "t.yaml"
    path.write_text("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Role: !GetAtt R.Arn\n")

    # WHEN it is outlined
    data = outline(path)

    # THEN the tagged value reads as None and the type is kept
    assert data == {"Resources": {"F": {"Type": "AWS::Serverless::Function", "Role": None}}}


def test_load_yaml_getatt_sequence_and_mapping_tags_become_long_form() -> None:
    # GIVEN a GetAtt as a list and a tag on a mapping
    text = "A: !GetAtt [F, Arn]\nB: !Transform {Name: X}\nC: !Condition IsProd\n"

    # WHEN it is loaded
    data = load_yaml(text)

    # THEN each is in its long form
    assert data == {
        "A": {"Fn::GetAtt": ["F", "Arn"]},
        "B": {"Fn::Transform": {"Name": "X"}},
        "C": {"Condition": "IsProd"},
    }


def test_load_yaml_a_key_twice_in_one_mapping_raises_naming_it() -> None:
    # GIVEN a mapping with a key repeated (YAML would silently keep the last)
    text = "Resources:\n  Bucket:\n    Type: A\n  Bucket:\n    Type: B\n"

    # WHEN / THEN it is refused, naming the key
    with pytest.raises(TemplateError, match="Duplicate found 'Bucket'"):
        load_yaml(text)


def test_function_ids_lists_sam_and_lambda_functions_only(tmp_path: Path) -> None:
    # GIVEN a template with a SAM function, a plain Lambda function and a bucket
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n  B: {Type: AWS::S3::Bucket}\n  Z: {Type: AWS::Serverless::Function}\n"
        "  A: {Type: AWS::Lambda::Function}\n",
        encoding="utf-8",
    )

    # WHEN / THEN the functions' logical ids are listed, sorted
    assert function_ids(path) == ["A", "Z"]
