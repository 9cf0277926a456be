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
from app.inference.scoring import load_scorer
from app.inputs.decoding import BINARY_TYPE
from app.main import create_app

app = create_app(Settings(model_dir=SHIPPED_MODEL_DIR))
app.state.scorer = load_scorer(SHIPPED_MODEL_DIR)  # what the lifespan does, for in-process calls
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
    # The one body OpenAPI cannot state: float32 rows are "a binary string" to a schema, so
    # random bytes are schema-valid there; the body's description states the rule instead.
    if case.media_type != BINARY_TYPE:
        checks.append(positive_data_acceptance)
    case.call_and_validate(checks=checks)
