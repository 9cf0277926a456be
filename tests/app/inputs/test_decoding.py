"""Request bodies to beat matrices, without HTTP: both JSON paths agree, and refusals say where."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from app.inputs.decoding import decode_beats, decode_binary_beats, decode_json_beats
from app.inputs.problems import BadRequest

LENGTH = 4
LIMIT = 100


def _json(beats: object) -> bytes:
    return orjson.dumps({"beats": beats})


def test_json_beats_become_a_float32_matrix() -> None:
    beats = [[0.5, -1.25, 3, 4e-3], [1, 2, 3, 4]]
    matrix = decode_json_beats(_json(beats), LENGTH, LIMIT)
    assert matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix, np.array(beats, dtype=np.float32))


def test_json_with_whitespace_and_unicode_escapes_in_the_key_is_accepted() -> None:
    body = b' {\n "be\\u0061ts" : [ [1, 2, 3, 4] ] }\n'
    np.testing.assert_array_equal(decode_json_beats(body, LENGTH, LIMIT), [[1, 2, 3, 4]])


def test_json_names_every_beat_of_the_wrong_length() -> None:
    with pytest.raises(BadRequest) as caught:
        decode_json_beats(_json([[0] * 4, [0] * 3, [0] * 4, [0] * 5]), LENGTH, LIMIT)
    assert caught.value.status == 422
    assert [(p.location, p.beat, p.message) for p in caught.value.problems] == [
        (
            "beats[1]",
            1,
            "has 3 samples, the model expects 4 (resample=true interpolates other lengths)",
        ),
        (
            "beats[3]",
            3,
            "has 5 samples, the model expects 4 (resample=true interpolates other lengths)",
        ),
    ]


@pytest.mark.parametrize(
    "sample, message",
    [("true", "got a boolean"), ('"1.5"', "got a string"), ("null", "got null"), ("[1]", "a list")],
)
def test_json_refuses_a_sample_that_is_not_a_number(sample: str, message: str) -> None:
    body = f'{{"beats": [[1, 2, 3, 4], [1, 2, {sample}, 4]]}}'.encode()
    with pytest.raises(BadRequest) as caught:
        decode_json_beats(body, LENGTH, LIMIT)
    problem = caught.value.problems[0]
    assert (problem.location, problem.beat, problem.sample) == ("beats[1][2]", 1, 2)
    assert message in problem.message


def test_json_refuses_a_number_beyond_float32() -> None:
    with pytest.raises(BadRequest) as caught:
        decode_json_beats(_json([[1, 2, 3, 4], [1, 1e39, 3, 4]]), LENGTH, LIMIT)
    problem = caught.value.problems[0]
    assert (problem.beat, problem.sample) == (1, 1)
    assert "finite number within" in problem.message


def test_json_refuses_more_beats_than_the_limit() -> None:
    with pytest.raises(BadRequest) as caught:
        decode_json_beats(_json([[0] * 4] * 3), LENGTH, max_beats=2)
    assert caught.value.status == 413
    assert "limit is 2" in caught.value.problems[0].message


def test_malformed_json_is_a_400_naming_the_position() -> None:
    with pytest.raises(BadRequest) as caught:
        decode_json_beats(b'{"beats": [[1, 2', LENGTH, LIMIT)
    assert caught.value.status == 400
    assert "line 1 column" in caught.value.problems[0].message


def test_binary_rows_are_little_endian_float32() -> None:
    beats = np.arange(8, dtype=np.float32).reshape(2, 4)
    matrix = decode_binary_beats(beats.astype("<f4").tobytes(), LENGTH, LIMIT)
    np.testing.assert_array_equal(matrix, beats)


@pytest.mark.parametrize("size", [0, 15, 17])
def test_binary_refuses_a_body_that_is_not_whole_rows(size: int) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_binary_beats(b"\0" * size, LENGTH, LIMIT)
    assert caught.value.status == 422
    assert "multiple of 16" in caught.value.problems[0].message


def test_binary_refuses_nan_naming_beat_and_sample() -> None:
    beats = np.zeros((3, 4), dtype="<f4")
    beats[2, 1] = np.nan
    with pytest.raises(BadRequest) as caught:
        decode_binary_beats(beats.tobytes(), LENGTH, LIMIT)
    assert [(p.beat, p.sample) for p in caught.value.problems] == [(2, 1)]


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", None, "app/x+json"]
)
def test_json_content_types_are_decoded_as_json(content_type: str | None) -> None:
    assert decode_beats(_json([[1, 2, 3, 4]]), content_type, LENGTH, LIMIT).shape == (1, 4)


def test_other_content_types_are_415() -> None:
    with pytest.raises(BadRequest) as caught:
        decode_beats(b"1,2,3,4", "text/csv", LENGTH, LIMIT)
    assert caught.value.status == 415
    assert "application/octet-stream" in caught.value.problems[0].message


def test_fast_and_strict_json_paths_read_the_same_numbers() -> None:
    from app.inputs.decoding import _fast_json_beats, _strict_json_beats

    rng = np.random.default_rng(0)
    scales = 10.0 ** rng.integers(-8, 8, (20, 1))
    body = _json((rng.normal(size=(20, LENGTH)) * scales).tolist())
    fast = _fast_json_beats(body, LENGTH)
    assert fast is not None
    np.testing.assert_array_equal(
        fast, np.array(_strict_json_beats(body, LENGTH, LIMIT), dtype=np.float32)
    )


def test_a_refused_body_held_by_its_caller_does_not_slow_the_next_one() -> None:
    from app.inputs.decoding import _fast_json_beats

    with pytest.raises(BadRequest) as held:  # its traceback pins the parser's last document
        decode_json_beats(_json([[0] * 3]), LENGTH, LIMIT)
    assert held.value.status == 422
    assert _fast_json_beats(_json([[1, 2, 3, 4]]), LENGTH) is not None


def test_resampling_interpolates_json_beats_of_other_lengths() -> None:
    from app.inputs.decoding import decode_resampling_beats

    body = _json([[0.0, 3.0], [1, 2, 3, 4], [0, 1, 2, 3, 4, 5, 6]])
    beats, lengths = decode_resampling_beats(body, "application/json", LENGTH, LIMIT)
    np.testing.assert_allclose(beats, [[0, 1, 2, 3], [1, 2, 3, 4], [0, 2, 4, 6]])
    assert lengths == [2, None, 7]


@pytest.mark.parametrize("beat", [[1.0], [0.0] * 10_001])
def test_resampling_refuses_beats_it_cannot_stretch(beat: list[float]) -> None:
    from app.inputs.decoding import decode_resampling_beats

    with pytest.raises(BadRequest) as caught:
        decode_resampling_beats(_json([beat]), "application/json", LENGTH, LIMIT)
    assert "can be resampled" in caught.value.problems[0].message
