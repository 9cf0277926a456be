"""Service configuration, read once from `ECG_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SHIPPED_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "ecg5000"
MIB = 1024 * 1024


class Settings(BaseSettings):
    # errors leave the values out: a refused ECG_API_KEY would otherwise be printed in full
    model_config = SettingsConfigDict(env_prefix="ECG_", frozen=True, hide_input_in_errors=True)

    model_dir: Path = Field(
        default=SHIPPED_MODEL_DIR,
        description="Model directory to serve (metadata.json + model.onnx). POST /v1/model/reload "
        "and SIGHUP load it again.",
    )
    models_dir: Path | None = Field(
        default=None,
        description="A folder of model directories to serve beside ECG_MODEL_DIR, each by its "
        "directory name (/v1/models, /v1/models/{name}/predict, ...). Reload picks up added, "
        "changed and removed ones.",
    )
    default_model: str | None = Field(
        default=None,
        description="The model the unnamed endpoints (/v1/predict, /v1/recordings, ...) use; by "
        "default ECG_MODEL_DIR's directory name.",
    )
    model_name: str = Field(
        default="ecg-anomaly",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="The model's name in the Open Inference Protocol (/v2/models/{name}).",
    )
    max_beats: int = Field(default=10_000, ge=1, description="Most beats accepted in one request.")
    max_body_bytes: int = Field(
        default=64 * MIB,
        ge=1,
        description="Largest request body, in bytes, on every endpoint; larger ones are refused "
        "with 413 before they are read (Content-Length) or as soon as they pass it (chunked). "
        "The default, 64 MiB, fits the default ECG_MAX_BEATS with room to spare: 10,000 beats of "
        "140 full-precision float64 samples take 27 MiB as compact JSON and 43 MiB pretty-printed "
        "(indent 4), 5.3 MiB as float32 rows. Raise it with ECG_MAX_BEATS.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a request body may take to arrive whole once it has started; a "
        "slower one gets 408 and its connection is closed.",
    )
    max_recording_s: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="Longest recording POST /v1/recordings takes, in seconds (4 hours: a "
        "30-minute two-lead record is well within it; a 4-hour two-lead 360 Hz record needs "
        "about 100 MiB of memory). ecg-score takes longer ones offline.",
    )
    inference_threads: int = Field(
        default=1, ge=1, description="ONNX Runtime intra-op threads per worker process."
    )
    page_max_beats: int = Field(
        default=1_000,
        ge=1,
        description="Most beats the page at / scores in one upload (each gets a chart); "
        "POST /v1/predict/csv and ecg-score take larger files.",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        default="info",
        description="Level of the service's JSON log lines on standard error; at info and "
        "below, one line per request.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description="When set, every endpoint but /health, /ready, /metrics, /v2/health/*, the "
        "API documentation (/docs, /openapi.json) and static files requires this key in the "
        "X-API-Key header, the page at / included (a browser cannot send the header). "
        "Unset: open.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_case_log_level(cls, level: object) -> object:
        return level.lower() if isinstance(level, str) else level

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, key: SecretStr | None) -> SecretStr | None:
        """Refuse a key no client could send: an empty ECG_API_KEY must not leave the service
        open by accident, and HTTP trims spaces around header values."""
        if key is None:
            return None
        value = key.get_secret_value()
        if not value or not all("!" <= char <= "~" for char in value):
            raise ValueError(
                "must be one or more visible ASCII characters (no spaces), as sent in a header"
            )
        return key
