"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid (positive mode) and invalid (negative mode); none
may answer 5xx, every response's status, content type and body must be ones the document
declares for it, and every request the document calls valid must be accepted (2xx): the document
says exactly what the service takes.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import SHIPPED_MODEL_DIR, Settings
from app.inference.registry import load_registry
from app.inputs.decoding import BINARY_TYPE
from app.main import create_app

app = create_app(Settings(model_dir=SHIPPED_MODEL_DIR))
app.state.registry = load_registry(Settings(model_dir=SHIPPED_MODEL_DIR))  # as the lifespan does
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
schema.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=60)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_every_generated_request_as_documented(case: schemathesis.Case) -> None:
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    # The bodies OpenAPI cannot state: float32 rows are "a binary string" to a schema, so random
    # bytes are schema-valid there; and whether a recording can be scored depends on what it holds
    # (three beats or more, not a flat line, a header that matches its signal file), which no
    # schema says. Their descriptions state the rules instead.
    if case.media_type != BINARY_TYPE and not case.path.endswith("/recordings"):
        checks.append(positive_data_acceptance)
    case.call_and_validate(checks=checks)
