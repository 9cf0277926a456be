"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

Every operation gets generated requests, valid and invalid; none may answer 5xx, and every
response's status, content type and body must be ones the document declares for it.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import SHIPPED_MODEL_DIR, Settings
from app.inference.registry import load_registry
from app.main import create_app

app = create_app(Settings(model_dir=SHIPPED_MODEL_DIR))
app.state.registry = load_registry(Settings(model_dir=SHIPPED_MODEL_DIR))  # as the lifespan does
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
schema.config.generation.update(modes=list(schemathesis.GenerationMode), max_examples=60)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_every_generated_request_as_documented(case: schemathesis.Case) -> None:
    # Not "positive data acceptance": `k` and `threshold` are each valid, together refused (422),
    # a rule OpenAPI's per-parameter schemas cannot state; the descriptions say it.
    case.call_and_validate(
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ]
    )
