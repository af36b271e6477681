"""Property tests of request decoding: any input gives a valid (rows, 2) float32 batch of finite
numbers or a client error (BadRequest), never anything else."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.serve.clients import binary_request
from xorlab.serve import infer_codec
from xorlab.serve.errors import BadRequest

MAX_ROWS = 16

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=30,
)
rows = st.lists(st.lists(st.floats(-1e6, 1e6, width=32), min_size=2, max_size=2), min_size=1, max_size=MAX_ROWS)


def check(x: np.ndarray) -> None:
    assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 2
    assert 1 <= x.shape[0] <= MAX_ROWS and np.isfinite(x).all()


@settings(max_examples=150, deadline=None)
@given(values)
def test_v1_decoding_returns_a_batch_or_a_client_error(instances):
    try:
        check(infer_codec.decode_v1(json.dumps({"instances": instances}).encode(), MAX_ROWS).x)
    except BadRequest:
        pass


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["x", "y", 1]),
            "datatype": st.sampled_from(["FP32", "INT8", None]),
            "shape": st.one_of(values, st.lists(st.integers(-3, 20), max_size=3)),
            "data": values,
            "parameters": values,
        },
    )
)
def test_v2_decoding_returns_a_batch_or_a_client_error(tensor):
    try:
        check(infer_codec.decode_v2(json.dumps({"inputs": [tensor]}).encode(), None, "x", "y", MAX_ROWS).x)
    except BadRequest:
        pass


@settings(max_examples=100, deadline=None)
@given(rows, st.booleans())
def test_valid_v2_requests_decode_to_their_values(data, flat):
    payload = [v for row in data for v in row] if flat else data
    body = json.dumps(
        {"inputs": [{"name": "x", "datatype": "FP32", "shape": [len(data), 2], "data": payload}]}
    ).encode()
    x = infer_codec.decode_v2(body, None, "x", "y", MAX_ROWS).x
    check(x)
    assert np.array_equal(x, np.array(data, dtype=np.float32))


@settings(max_examples=100, deadline=None)
@given(rows, st.binary(max_size=12), st.integers(0, 40))
def test_binary_requests_with_lying_sizes_are_client_errors(data, junk, header_delta):
    raw = np.array(data, dtype="<f4").tobytes()
    head = json.dumps(
        {
            "inputs": [
                {"name": "x", "datatype": "FP32", "shape": [len(data), 2], "parameters": {"binary_data_size": len(raw)}}
            ]
        }
    ).encode()
    body = head + raw + junk
    try:
        x = infer_codec.decode_v2(body, str(len(head) + header_delta), "x", "y", MAX_ROWS).x
    except BadRequest:
        assert junk or header_delta
    else:
        assert not junk and header_delta == 0
        assert np.array_equal(x, np.array(data, dtype=np.float32))


BIG = [infer_codec.FP32_MAX, -infer_codec.FP32_MAX]  # each in range, their magnitudes' sum not: the quick check's edge


def binary_values(values: list[float]) -> tuple[bytes, str]:
    """`values`, two a row, as a binary V2 request: its body and its JSON header's length."""
    body, headers = binary_request(np.reshape(values, (-1, 2)))
    return body, headers["Inference-Header-Content-Length"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.floats(width=32), st.sampled_from(BIG)), min_size=2, max_size=80).filter(
        lambda v: len(v) % 2 == 0
    )
)
@example([1.0, float("nan")]).via("a NaN after a number")
@example([0.0, 1.0, -float("inf"), 2.0]).via("an infinity among numbers")
@example(BIG).via("FP32's extremes")
def test_the_range_check_is_exact_for_few_and_many_values(values):
    # Few values are checked in Python, more by numpy (infer_codec._in_range): either way every finite
    # FP32 value decodes to itself, and a NaN or an infinity anywhere is a client error.
    expected = np.array(values, dtype=np.float32).reshape(-1, 2)
    if np.isfinite(expected).all():
        assert np.array_equal(infer_codec.decode_v2(*binary_values(values), "x", "y", 64).x, expected)
        # JSON has no NaN or infinity: V1 gets the finite ones, as float64 numbers
        assert np.array_equal(
            infer_codec.decode_v1(json.dumps({"instances": expected.tolist()}).encode(), 64).x, expected
        )
    else:
        try:
            infer_codec.decode_v2(*binary_values(values), "x", "y", 64)
        except BadRequest as exc:
            assert "NaN or Infinity" in str(exc)
        else:
            raise AssertionError(f"{len(values)} values with a NaN or an infinity decoded")


def test_a_json_number_beyond_fp32_is_refused_among_few_values_and_many():
    for count in (1, 40):
        instances = [[0.0, 1.0]] * (count - 1) + [[3.5e38, 0.0]]
        try:
            infer_codec.decode_v1(json.dumps({"instances": instances}).encode(), 64)
        except BadRequest as exc:
            assert "outside the FP32 range" in str(exc)
        else:
            raise AssertionError(f"{count} rows with 3.5e38 decoded")
        assert np.array_equal(
            infer_codec.decode_v1(json.dumps({"instances": [BIG] * count}).encode(), 64).x,
            np.array([BIG] * count, dtype=np.float32),
        )
