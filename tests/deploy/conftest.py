"""Fixtures for the deployment tests: the service-test fixtures (real server processes)."""

from tests.app.conftest import model_copy, serve, serve_for_module  # noqa: F401  (pytest fixtures)
