"""Vectorised number parsing: bit-exact against float(), and None for anything malformed."""

from __future__ import annotations

import numpy as np
import pytest

from sugar_core.skeleton.readers.text import leading_tokens, line_bounds, parse_decimals


def _bounds(tokens: list[bytes], sep: bytes = b" "):
    buf = sep.join(tokens)
    starts, pos = [], 0
    for t in tokens:
        starts.append(pos)
        pos += len(t) + len(sep)
    starts = np.array(starts)
    return buf, starts, starts + np.array([len(t) for t in tokens])


def test_random_decimals_match_float_bit_for_bit(rng):
    x = rng.normal(size=5000) * 10.0 ** rng.integers(-4, 5, 5000)
    tokens = [f"{v:.{rng.integers(0, 10)}f}".encode() for v in x]
    tokens += [b"0", b"-0", b"+3", b"100.", b".5", b"-.25", b"999999999999999", b"1.5E-05"]
    buf, s, e = _bounds(tokens)
    got = parse_decimals(buf, s, e)
    want = np.array([float(t) for t in tokens])
    assert np.array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("bad", [b"1.2.3", b"abc", b"-", b".", b"1-2", b"--1", b"1e", b"nan?"])
def test_malformed_tokens_give_none(bad):
    buf, s, e = _bounds([b"1.5", bad, b"2"])
    assert parse_decimals(buf, s, e) is None


def test_long_tokens_go_through_float_and_empty_ones_give_none():
    long = b"-1." + b"1" * 20
    buf, s, e = _bounds([b"2.5", long, b"1.25e+02"])
    assert list(parse_decimals(buf, s, e)) == [2.5, float(long), 125.0]
    buf, s, e = _bounds([b"2.5", b"1." + b"x" * 20])
    assert parse_decimals(buf, s, e) is None
    assert parse_decimals(b"1 2", np.array([0, 1]), np.array([1, 1])) is None
    assert parse_decimals(b"", np.zeros(0, int), np.zeros(0, int)).shape == (0,)


def test_line_bounds_strip_crlf_and_keep_a_last_partial_line():
    text = b"3\r\n1 2 3\n\r\n 5 6\r\nab"
    s, e = line_bounds(np.frombuffer(text, np.uint8))
    assert [text[a:b] for a, b in zip(s, e)] == [b"3", b"1 2 3", b"", b" 5 6", b"ab"]


def test_leading_tokens():
    text = b"-0.5 12 7.25 x y\n1 2 3\n"
    ts, te = leading_tokens(text, np.array([0, 17]), 2)
    assert [text[a:b] for a, b in zip(ts.ravel(), te.ravel())] == [b"-0.5", b"12", b"1", b"2"]
    assert leading_tokens(b" 1 2 3\n", np.array([0]), 2) is None  # leading space
    assert leading_tokens(b"1  2 3\n", np.array([0]), 2) is None  # doubled space
    assert leading_tokens(b"1 2\n", np.array([0]), 2) is None  # the line ends first
