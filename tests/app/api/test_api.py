"""The HTTP API through the app's lifespan, on the shipped model."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient

from app.api.schemas import PredictResponse
from app.config import Settings
from app.inference.artifact import read_metadata
from app.main import create_app
from training.config import TrainConfig
from training.data.augment import recut
from training.data.sources import load_beats
from training.data.split import split_reference
from training.fitting.thresholds import calibrated_threshold


def _predict_examples(client: TestClient) -> dict[str, dict]:
    body = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]
    return body["content"]["application/json"]["examples"]


def test_predict_returns_a_verdict_per_beat(client: TestClient) -> None:
    examples = _predict_examples(client)
    response = client.post("/v1/predict", json=examples["both"]["value"])
    assert response.status_code == 200
    body = response.json()
    model = client.get("/v1/model").json()
    assert body["model_version"] == model["model_version"]
    assert body["threshold"] == model["threshold"]
    assert [r["index"] for r in body["results"]] == [0, 1]
    assert [r["verdict"] for r in body["results"]] == ["normal", "abnormal"]
    assert [r["is_anomaly"] for r in body["results"]] == [False, True]
    errors = [r["reconstruction_error"] for r in body["results"]]
    assert errors[0] < body["threshold"] < errors[1]


@pytest.mark.parametrize("name, verdict", [("normal", "normal"), ("abnormal", "abnormal")])
def test_swagger_examples_run_and_give_their_verdict(
    client: TestClient, name: str, verdict: str
) -> None:
    example = _predict_examples(client)[name]["value"]
    response = client.post("/v1/predict", json=example)
    assert response.status_code == 200
    assert response.json()["results"][0]["verdict"] == verdict


def test_predict_response_matches_its_documented_schema(client: TestClient) -> None:
    examples = _predict_examples(client)
    for query in ("", "?explain=true"):
        body = client.post(f"/v1/predict{query}", json=examples["both"]["value"]).json()
        assert PredictResponse.model_validate(body).results[1].verdict == "abnormal"


def test_predict_accepts_float32_rows_and_agrees_with_json(client: TestClient) -> None:
    beats = _predict_examples(client)["both"]["value"]["beats"]
    binary = client.post(
        "/v1/predict",
        content=np.array(beats, dtype="<f4").tobytes(),
        headers={"content-type": "application/octet-stream"},
    )
    assert binary.status_code == 200
    assert binary.json() == client.post("/v1/predict", json={"beats": beats}).json()


def test_predict_refuses_float32_body_that_is_not_whole_beats(client: TestClient) -> None:
    response = client.post(
        "/v1/predict",
        content=b"\0" * (140 * 4 + 2),
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 422
    assert "multiple of 560" in response.json()["detail"]


def test_shipped_model_beats_the_tutorial_over_http(
    client: TestClient, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    """The shipped model's reference figures at the default threshold, issue #17's goals:
    accuracy 0.984 (goal 0.97; the tutorial: 0.944) and ROC AUC 0.9991 (goal 0.997)."""
    beats, is_abnormal = reference_test_split
    response = client.post("/v1/predict", json={"beats": beats.tolist()})
    assert response.status_code == 200
    results = response.json()["results"]
    flagged = np.array([r["is_anomaly"] for r in results])
    assert len(flagged) == 1000
    assert np.mean(flagged == is_abnormal) >= 0.97
    errors = np.array([r["reconstruction_error"] for r in results])
    assert roc_auc(errors[~is_abnormal], errors[is_abnormal]) >= 0.997


def test_shipped_model_keeps_its_accuracy_on_beats_cut_two_samples_late(
    client: TestClient, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    """Issue #17's shift tolerance: the test beats joined into a 250 Hz strip and cut again 2
    samples later lose at most 0.01 of the accuracy of the strip cut where they began (0.975
    against 0.985), which itself is within 0.005 of the rows' own (0.984)."""
    beats, is_abnormal = reference_test_split

    def accuracy(cut_beats: np.ndarray) -> float:
        response = client.post("/v1/predict", json={"beats": cut_beats.tolist()})
        assert response.status_code == 200
        flagged = np.array([r["is_anomaly"] for r in response.json()["results"]])
        return float(np.mean(flagged == is_abnormal))

    unshifted = accuracy(recut(beats, 0))
    assert unshifted >= accuracy(beats) - 0.005 - 1e-9
    assert accuracy(recut(beats, 2)) >= unshifted - 0.01 - 1e-9


def test_shipped_model_gains_accuracy_at_the_threshold_calibrated_on_the_training_part(
    client: TestClient, shipped_training_csv: Path, shipped_model_dir: Path
) -> None:
    """The calibrated operating point, over HTTP: the threshold `ecg-train --threshold-rule
    calibrated` picks (best F1 on the training part's normal and abnormal beats, never the test
    rows), asked for per request, gets at least issue #17's goal of 0.985 accuracy on the test
    rows (0.986), more than the default threshold (0.984). The beats are chosen here as
    `training.fitting.train.calibration_slice` chooses them, but scored through the service
    instead of Keras."""
    config = TrainConfig()  # the reference split
    split = split_reference(
        load_beats(shipped_training_csv), config.test_size, config.split_random_state
    )
    calibration = calibrated_threshold(
        _errors_over_http(client, split.train_beats[split.train_is_normal]),
        _errors_over_http(client, split.train_beats[~split.train_is_normal]),
        "max_f1",
    )
    response = client.post(
        f"/v1/predict?threshold={calibration.threshold!r}",
        json={"beats": split.test_beats.tolist()},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["threshold"] == pytest.approx(calibration.threshold)
    flagged = np.array([r["is_anomaly"] for r in body["results"]])
    calibrated_accuracy = np.mean(flagged == ~split.test_is_normal)
    assert calibrated_accuracy >= 0.985
    test_errors = _errors_over_http(client, split.test_beats)
    default_flagged = test_errors > client.get("/v1/model").json()["threshold"]
    assert calibrated_accuracy > np.mean(default_flagged == ~split.test_is_normal)


def _errors_over_http(client: TestClient, beats: np.ndarray) -> np.ndarray:
    response = client.post("/v1/predict", json={"beats": beats.tolist()})
    assert response.status_code == 200
    return np.array([r["reconstruction_error"] for r in response.json()["results"]])


def roc_auc(normal_errors: np.ndarray, abnormal_errors: np.ndarray) -> float:
    """The chance that an abnormal beat scores above a normal one (ties count half)."""
    above = (abnormal_errors[:, None] > normal_errors[None, :]).mean()
    ties = (abnormal_errors[:, None] == normal_errors[None, :]).mean()
    return float(above + ties / 2)


def test_predict_applies_a_requested_k_and_says_so(client: TestClient) -> None:
    examples = _predict_examples(client)
    model = client.get("/v1/model").json()
    stats = model["training_errors"]
    abnormal_error = client.post("/v1/predict", json=examples["abnormal"]["value"]).json()
    abnormal_error = abnormal_error["results"][0]["reconstruction_error"]
    k_above = (abnormal_error - stats["mean"]) / stats["std"] + 1  # puts the abnormal example below
    response = client.post(f"/v1/predict?k={k_above}", json=examples["abnormal"]["value"])
    body = response.json()
    assert response.status_code == 200
    assert body["threshold"] == pytest.approx(stats["mean"] + k_above * stats["std"])
    assert body["threshold"] != model["threshold"]
    assert f"mean + {k_above:g} * std" in body["threshold_rule"]
    assert body["results"][0]["verdict"] == "normal"


def test_predict_with_k_and_threshold_applies_the_threshold(client: TestClient) -> None:
    normal = _predict_examples(client)["normal"]["value"]
    both = client.post("/v1/predict?k=1&threshold=0.00000001", json=normal)
    assert both.status_code == 200
    assert both.json()["threshold"] == 0.00000001
    assert "precedence over k=1" in both.json()["threshold_rule"]
    assert both.json()["results"][0]["verdict"] == "abnormal"


def test_predict_applies_a_requested_threshold(client: TestClient) -> None:
    normal = _predict_examples(client)["normal"]["value"]
    strict = client.post("/v1/predict?threshold=0.00000001", json=normal).json()
    assert strict["threshold"] == 0.00000001
    assert strict["threshold_rule"] == "threshold given in the request"
    assert strict["results"][0]["verdict"] == "abnormal"
    default = client.post("/v1/predict", json=normal).json()
    assert default["threshold_rule"] == client.get("/v1/model").json()["threshold_rule_description"]


@pytest.mark.parametrize(
    "query, location",
    [
        ("k=-1", "query.k"),
        ("k=abc", "query.k"),
        ("k=nan", "query.k"),
        ("threshold=0", "query.threshold"),
        ("threshold=inf", "query.threshold"),
        ("explain=maybe", "query.explain"),
    ],
)
def test_predict_rejects_bad_operating_points(
    client: TestClient, query: str, location: str
) -> None:
    response = client.post(f"/v1/predict?{query}", json={"beats": [[0.0] * 140]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == location


def test_explain_returns_reconstruction_and_per_sample_error(client: TestClient) -> None:
    examples = _predict_examples(client)
    response = client.post("/v1/predict?explain=true", json=examples["both"]["value"])
    assert response.status_code == 200
    beats = examples["both"]["value"]["beats"]
    for result, beat in zip(response.json()["results"], beats, strict=True):
        assert len(result["reconstruction"]) == len(result["sample_errors"]) == 140
        assert np.mean(result["sample_errors"]) == pytest.approx(result["reconstruction_error"])
        # the shipped model compares the beat smoothed: sharp peaks flattened, so not the same
        assert len(result["compared"]) == 140 and result["compared"] != beat
        # the reconstruction is in the beat's own units: it tracks the normal beat closely
        if result["verdict"] == "normal":
            gap = np.abs(np.subtract(result["reconstruction"], result["compared"]))
            assert gap.mean() < 0.2
    abnormal = response.json()["results"][1]  # its error is concentrated in a segment of the beat
    assert max(abnormal["sample_errors"]) > 2.5 * abnormal["reconstruction_error"]


def test_an_aligning_model_says_how_far_it_moved_each_beat(aligned_model_dir: Path) -> None:
    with TestClient(create_app(Settings(model_dir=aligned_model_dir))) as aligned:
        alignment = aligned.get("/v1/model").json()["alignment"]
        assert (alignment["max_shift"], alignment["step"]) == (3.0, 0.25)
        normal = read_metadata(aligned_model_dir).examples.normal
        assert normal is not None
        late = [normal[-2:] + normal[:-2]]  # cut 2 samples late, the next beat's start wrapped
        both = {"beats": [normal, *late]}
        results = aligned.post("/v1/predict?explain=true", json=both).json()["results"]
        plain = aligned.post("/v1/predict", json={"beats": late}).json()["results"]
    on_time, cut_late = results
    assert cut_late["shift"] - on_time["shift"] == pytest.approx(2.0, abs=0.25)
    # the ends differ, by half a smoothing window and the shift: each was smoothed at its own cut
    # before it was moved
    smoothing = read_metadata(aligned_model_dir).smoothing
    assert smoothing is not None
    inner = slice(smoothing.window // 2 + 5, -(smoothing.window // 2 + 5))
    assert cut_late["compared"][inner] == pytest.approx(on_time["compared"][inner], abs=0.1)
    # moved back, the late cut scores within a tenth of the threshold of the beat cut on time
    # (the shipped model without alignment: 0.0092 against 0.0073, a threshold of 0.0145)
    threshold = read_metadata(aligned_model_dir).threshold
    assert abs(cut_late["reconstruction_error"] - on_time["reconstruction_error"]) < threshold / 10
    assert "shift" not in plain[0] and plain[0]["verdict"] == cut_late["verdict"] == "normal"


def test_predict_leaves_explanations_out_unless_asked(client: TestClient) -> None:
    normal = _predict_examples(client)["normal"]["value"]
    result = client.post("/v1/predict", json=normal).json()["results"][0]
    assert set(result) == {"index", "reconstruction_error", "is_anomaly", "verdict"}


def test_model_endpoint_describes_the_loaded_model(client: TestClient) -> None:
    model = client.get("/v1/model").json()
    assert model["input_length"] == 140
    assert model["threshold"] > 0
    assert model["threshold_rule"]["name"] == "mean_plus_k_std"
    assert model["threshold_rule"]["k"] == 1
    assert "mean + 1 * std" in model["threshold_rule_description"]
    assert model["metrics"]["positive_class"] == "abnormal"
    assert model["metrics"]["accuracy"] >= 0.944
    assert model["metrics"]["n_test"] == 1000
    assert model["created_at"]
    stats = model["training_errors"]
    assert stats["mean"] + stats["std"] == pytest.approx(model["threshold"])
    # trained by today's defaults, not taken again from another model's network
    assert model["network_from"] is None
    assert model["hyperparameters"]["threshold_max_shift"] == 6
    assert model["hyperparameters"]["step_height"] == 3


def test_health_and_ready_answer_once_the_model_is_loaded(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["model_version"] == client.get("/v1/model").json()["model_version"]


def test_ready_is_503_before_the_model_is_loaded(shipped_model_dir) -> None:
    app = create_app(Settings(model_dir=shipped_model_dir))
    client = TestClient(app)  # no `with`: the lifespan has not run, so no model is loaded
    assert client.get("/ready").status_code == 503
    assert client.get("/health").status_code == 200
    predict = client.post("/v1/predict", json={"beats": [[0.0] * 140]})
    assert predict.status_code == 503


def test_swagger_ui_is_served_with_its_files_from_the_service(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assets = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", response.text)
    assert any(asset.endswith("swagger-ui-bundle.js") for asset in assets)
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served by the service"
        assert client.get(asset).status_code == 200
    assert "cdn" not in response.text.lower()


BEAT = [0.0] * 140
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "body, status, location, message",
    [
        ({"beats": [BEAT, [0.0] * 139]}, 422, "beats[1]", "has 139 samples, the model expects 140"),
        ({"beats": [BEAT, BEAT, [0.0] * 141]}, 422, "beats[2]", "has 141 samples"),
        ({"beats": [[*BEAT[:5], "x", *BEAT[6:]]]}, 422, "beats[0][5]", "must be a number"),
        ({"beats": [BEAT, [*BEAT[:7], None, *BEAT[8:]]]}, 422, "beats[1][7]", "got null"),
        ({"beats": [[*BEAT[:3], True, *BEAT[4:]]]}, 422, "beats[0][3]", "got a boolean"),
        ({"beats": [[[0.0], *BEAT[1:]]]}, 422, "beats[0][0]", "got a list"),
        ({"beats": []}, 422, "beats", "must not be empty"),
        ({"beats": [[]]}, 422, "beats[0]", "must not be empty"),
        ({"beats": [0.0] * 140}, 422, "beats[0]", "must be a list"),
        ({"beats": "0,1,2"}, 422, "beats", "must be a list"),
        ({}, 422, "beats", "is required"),
        ({"beats": [BEAT], "extra": 1}, 422, "extra", "is not an accepted field"),
        ([BEAT], 422, "body", "must be a JSON object"),
    ],
)
def test_predict_rejects_bad_json_with_the_place_and_the_problem(
    client: TestClient, body: object, status: int, location: str, message: str
) -> None:
    response = client.post("/v1/predict", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["errors"][0]["location"] == location
    assert message in problem["errors"][0]["message"]
    assert location in problem["detail"]


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999"])
def test_predict_rejects_non_finite_numbers(client: TestClient, literal: bytes) -> None:
    samples = b",".join([b"0.5"] * 10 + [literal] + [b"0.5"] * 129)
    response = client.post(
        "/v1/predict",
        content=b'{"beats": [[' + samples + b"]]}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["beat"], error["sample"]) == (0, 10)
    assert "finite" in error["message"]


def test_predict_rejects_integer_too_large_for_a_float(client: TestClient) -> None:
    samples = ",".join(["0"] * 139 + ["1" + "0" * 400])
    response = client.post(
        "/v1/predict",
        content=f'{{"beats": [[{samples}]]}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "beats[0][139]"


@pytest.mark.parametrize(
    "content", [b"", b"not json", b'{"beats": [[0.1, 0.2', b"\xff\xfe\x00garbage", b"{'beats': []}"]
)
def test_predict_rejects_body_that_is_not_json(client: TestClient, content: bytes) -> None:
    response = client.post(
        "/v1/predict", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code in {400, 422}
    assert response.json()["errors"][0]["location"] == "body"


def test_predict_asks_for_json_when_content_type_is_not_json(client: TestClient) -> None:
    response = client.post(
        "/v1/predict", content=b'{"beats": [[0.0]]}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


def test_predict_refuses_more_beats_than_the_configured_limit(shipped_model_dir) -> None:
    app = create_app(Settings(model_dir=shipped_model_dir, max_beats=3))
    with TestClient(app) as client:
        assert client.post("/v1/predict", json={"beats": [BEAT] * 3}).status_code == 200
        response = client.post("/v1/predict", json={"beats": [BEAT] * 4})
    assert response.status_code == 413
    assert "limit is 3" in response.json()["detail"]


def test_problem_lists_are_capped_but_say_how_many_more(client: TestClient) -> None:
    response = client.post("/v1/predict", json={"beats": [[0.0]] * 50})
    problem = response.json()
    assert response.status_code == 422
    assert len(problem["errors"]) == 20
    assert "and 30 more problems" in problem["detail"]


def test_unknown_route_and_wrong_method_answer_as_problems(client: TestClient) -> None:
    assert client.get("/v2/nothing").json()["status"] == 404
    wrong_method = client.get("/v1/predict")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/problem+json"


def test_unexpected_error_answers_500_without_a_traceback_or_a_path(shipped_model_dir) -> None:
    app = create_app(Settings(model_dir=shipped_model_dir))
    secret_path = shipped_model_dir / "secret.txt"

    @app.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError(f"cannot read {secret_path}")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal server error",
        "status": 500,
        "detail": "Internal server error",
        "errors": [],
    }
    for leak in ("Traceback", "RuntimeError", str(shipped_model_dir), "secret", ".py"):
        assert leak not in response.text


def test_many_bad_samples_are_counted_not_all_described(client: TestClient) -> None:
    beats = [[True] * 140 for _ in range(30)]
    response = client.post("/v1/predict", json={"beats": beats})
    problem = response.json()
    assert response.status_code == 422
    assert len(problem["errors"]) == 20
    assert problem["errors"][0]["location"] == "beats[0][0]"
    assert "and 10 more problems" in problem["detail"]


def test_one_enormous_beat_is_refused_by_its_length(client: TestClient) -> None:
    response = client.post("/v1/predict", json={"beats": [[True] * 200_000]})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "location": "beats[0]",
            "beat": 0,
            "message": "has 200000 samples, the model expects 140 "
            "(resample=true interpolates other lengths)",
        }
    ]


def test_float32_body_full_of_nan_is_counted_not_all_described(client: TestClient) -> None:
    body = np.full((10, 140), np.nan, dtype="<f4").tobytes()
    response = client.post(
        "/v1/predict", content=body, headers={"content-type": "application/octet-stream"}
    )
    assert response.status_code == 422
    assert len(response.json()["errors"]) == 20
    assert "and 1380 more problems" in response.json()["detail"]


def test_beat_that_overflows_the_model_is_refused_not_called_normal(
    unsmoothed_client: TestClient, shipped_model_dir
) -> None:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(shipped_model_dir / "model.onnx")).graph
    kernels = [numpy_helper.to_array(t) for t in graph.initializer]
    first_layer = next(k for k in kernels if k.shape == (140, 128))
    beat = np.sign(first_layer[:, 12]) * np.float64(np.finfo(np.float32).max)
    response = unsmoothed_client.post("/v1/predict", json={"beats": [[0.0] * 140, beat.tolist()]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "beats[1]"
    assert "too large for the model" in response.json()["detail"]


@pytest.mark.parametrize(
    "query, location, message",
    [
        ("treshold=0.5", "query.treshold", "is not an accepted field"),
        ("k=1&k=2", "query.k", "is given more than once"),
    ],
)
def test_predict_refuses_unknown_or_repeated_query_parameters(
    client: TestClient, query: str, location: str, message: str
) -> None:
    response = client.post(f"/v1/predict?{query}", json={"beats": [[0.0] * 140]})
    assert response.status_code == 422
    assert response.json()["errors"][0] == {"location": location, "message": message}


def test_json_with_a_byte_order_mark_is_read_by_both_paths(client: TestClient) -> None:
    bom = b"\xef\xbb\xbf"
    good = orjson.dumps({"beats": [[0.0] * 140]})
    assert client.post("/v1/predict", content=bom + good, headers=JSON).status_code == 200
    bad = orjson.dumps({"beats": [[0.0] * 139]})
    response = client.post("/v1/predict", content=bom + bad, headers=JSON)
    assert response.status_code == 422
    assert response.json()["errors"][0]["location"] == "beats[0]"


def test_predict_resamples_beats_of_other_lengths_on_request(
    client: TestClient, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    beats, _ = reference_test_split
    beat = beats[0]
    shorter = np.interp(np.linspace(0, 1, 70), np.linspace(0, 1, 140), beat)  # half the rate
    response = client.post("/v1/predict?resample=true", json={"beats": [shorter.tolist()]})
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["resampled_from"] == 70
    same = client.post("/v1/predict", json={"beats": [beat.tolist()]}).json()["results"][0]
    assert result["verdict"] == same["verdict"]
    refused = client.post("/v1/predict", json={"beats": [shorter.tolist()]})
    assert refused.status_code == 422
    assert "resample=true" in refused.json()["detail"]
