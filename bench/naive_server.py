"""The naive reference server of the benchmark: what a user would otherwise write.

The tutorial's approach behind FastAPI: a pydantic body, the Keras model called with
`model.predict` per request, and the verdicts built in Python. Same API shape as the service, so
one load generator drives both. Run: `ECG_MODEL_DIR=models/ecg5000 uvicorn bench.naive_server:app`.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

from app.inference.artifact import KERAS_FILE, read_metadata

MODEL_DIR = Path(os.environ.get("ECG_MODEL_DIR", "models/ecg5000"))
metadata = read_metadata(MODEL_DIR)
model = keras.models.load_model(MODEL_DIR / KERAS_FILE)
app = FastAPI(title="naive ECG server")


class Beats(BaseModel):
    beats: list[list[float]]


@app.get("/ready")
def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/v1/predict")
def predict(body: Beats) -> dict[str, object]:
    norm = metadata.normalisation
    x = (np.array(body.beats, dtype=np.float32) - norm.min) / (norm.max - norm.min)
    reconstructions = model.predict(x, verbose=0)
    errors = np.mean(np.abs(reconstructions - x), axis=1)
    results = [
        {
            "index": i,
            "reconstruction_error": float(e),
            "is_anomaly": bool(e > metadata.threshold),
            "verdict": "abnormal" if e > metadata.threshold else "normal",
        }
        for i, e in enumerate(errors)
    ]
    return {
        "model_version": metadata.model_version,
        "threshold": metadata.threshold,
        "results": results,
    }
