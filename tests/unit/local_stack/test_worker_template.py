"""What the worker template imports before forking: the handlers' libraries, never a handler package."""

from __future__ import annotations

from pathlib import Path

import botocore.session
from pytest import MonkeyPatch

from local_stack.worker import outside_imports, preloaded, share_botocore_data

FUNCTIONS = Path(__file__).resolve().parents[3] / "functions"


def test_template_preloads_what_the_handlers_import_from_outside_their_package() -> None:
    # GIVEN the pipeline's handler package (module-level clients and settings read at import)
    # WHEN the template works out what to import before any fork
    names = outside_imports(FUNCTIONS, "ocr_pipeline.handlers.preprocess")

    # THEN the heavy libraries and the domain/adapter modules are in, nothing of the handlers package is
    assert {"boto3", "aws_lambda_powertools", "pydantic", "ocr_pipeline.settings"} <= names
    assert any(name.startswith("ocr_pipeline.adapters.") for name in names)
    assert not [name for name in names if name.startswith("ocr_pipeline.handlers")]
    assert "__future__" not in names


def test_template_preloads_what_powertools_imports_on_first_use() -> None:
    # GIVEN handlers that create a Powertools Tracer (which imports the X-Ray SDK only when created)
    # WHEN the template works out what to import
    names = preloaded(FUNCTIONS, ["ocr_pipeline.handlers.recognize", "ocr_pipeline.handlers.admission"])

    # THEN the X-Ray SDK is imported with Powertools, and still nothing of the handlers package
    assert {"aws_lambda_powertools", "aws_xray_sdk.core"} <= set(names)
    assert not [name for name in names if name.startswith("ocr_pipeline.handlers")]


def test_a_top_level_handler_module_is_never_preloaded(tmp_path: Path) -> None:
    # GIVEN a handler module at the top of its code directory that reads a variable at import
    (tmp_path / "app.py").write_text("import os\nimport json\nTAG = os.environ['TAG']\n", encoding="utf-8")

    # WHEN the template works out what to import
    names = outside_imports(tmp_path, "app")

    # THEN only its libraries are preloaded, not the module itself
    assert names == {"os", "json"}


def test_template_parses_botocore_data_once_for_every_session_it_forks(monkeypatch: MonkeyPatch) -> None:
    # GIVEN botocore as a template imports it (restored after the test)
    monkeypatch.setattr(botocore.session, "create_loader", botocore.session.create_loader)

    # WHEN the template shares botocore's data before any fork
    assert share_botocore_data(("s3",))

    # THEN every new session (a function's module-level clients, after the fork) gets the one loader,
    # which already holds the parsed endpoints and models, so no cold start parses them again
    first, second = botocore.session.Session(), botocore.session.Session()
    loader = first.get_component("data_loader")
    assert second.get_component("data_loader") is loader
    assert ("load_service_model", "s3", "service-2") in loader._cache
    assert ("load_data_with_path", "endpoints") in loader._cache
    assert first.create_client("s3", region_name="us-east-1").meta.service_model.service_name == "s3"
