"""Vectorised helpers for numeric text files: line bounds, leading tokens and decimal parsing
without a Python loop per number.

Parsing floats one token at a time costs a few hundred nanoseconds each in Python, and skeleton
files hold millions of them. Here a file is a byte array; the tokens that matter are cut out as
fixed-width rows (one gather each, through a 1-byte-stride view of the buffer) and their values
come from a few matrix-vector products. Only plain decimals (``-12.345``, ``7``) take the fast
road; exponent forms (``1.5E-05``, rare in sensor dumps) go through ``float`` one by one; anything
else makes these helpers return None so the caller can use a careful parser that names the line.
"""

from __future__ import annotations

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)
TOKEN_WIDTH = 16  # longest token the fast road looks for
MATRIX_WIDTH = 12  # widest token body (after the sign) parsed in the matrix: -0.001234567

_POW10 = 10.0 ** np.arange(TOKEN_WIDTH - 1, -1, -1)  # (16,) 1e15 ... 1e0
# per row width w: row k (flattened, w bytes a row) is True in its last k columns
_INSIDE = {
    w: (np.arange(w)[None, :] >= w - np.arange(w + 1)[:, None]).ravel()
    for w in range(1, MATRIX_WIDTH + 1)
}


def _rows(padded: np.ndarray, width: int, at: np.ndarray) -> np.ndarray:
    """(len(at), width): the ``width`` elements (bytes) of ``padded`` starting at each ``at``."""
    view = np.ndarray(
        shape=(len(padded) - width + 1,), dtype=f"V{width}", buffer=padded, strides=(1,)
    )
    return view[at].view(padded.dtype).reshape(len(at), width)


def line_bounds(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end byte of every line of ``a`` (uint8); ends exclude ``\\n`` and ``\\r``.

    A last line without a newline counts, and so does an empty tail after the last newline, so
    there is always one more line than newlines.
    """
    nl = np.flatnonzero(a == 10)
    starts = np.empty(len(nl) + 1, dtype=np.int64)
    starts[0] = 0
    starts[1:] = nl + 1
    ends = np.empty_like(starts)
    ends[:-1] = nl
    ends[-1] = len(a)
    has_cr = ends > starts
    has_cr[has_cr] = a[ends[has_cr] - 1] == 13
    ends -= has_cr
    return starts, ends


def text_lines(buf: bytes) -> list[bytes]:
    """The lines of ``buf`` split at ``\\n`` with one ``\\r`` dropped (as ``line_bounds`` sees
    them), without the empty tail after a final newline."""
    lines = buf.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


def plain_whitespace(a: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> bool:
    """True if the only control whitespace in ``a`` is line breaks (``\n``, ``\r\n``): no tab,
    no form feed, no lone ``\r``. Fast roads need it to split lines and tokens as the careful
    parsers (which split tokens at any ASCII whitespace) do."""
    breaks = (len(starts) - 1) + int(np.count_nonzero(a[ends[:-1]] == 13))
    return int(np.count_nonzero((a - np.uint8(9)) < 5)) == breaks  # bytes 9..13


def spaces_if_single(a: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> int | None:
    """Number of spaces in ``a`` if no line has a leading, trailing or doubled space, else None.

    Then every line holds exactly one token more than it has spaces, so comparing this total
    with the total a format expects checks the token counts (up to two faults that cancel out).
    """
    space = a == 32
    used = ends > starts
    if np.any(a[starts[used]] == 32) or np.any(a[ends[used] - 1] == 32):
        return None
    if np.count_nonzero(space[1:] & space[:-1]):
        return None
    return int(np.count_nonzero(space))


def number(token: bytes) -> float | None:
    """``float(token)`` if it is a finite number that fits float32, else None."""
    try:
        value = float(token)
    except ValueError:
        return None
    return value if abs(value) <= FLOAT32_MAX else None  # False for nan too


def leading_tokens(buf: bytes, starts: np.ndarray, k: int):
    """Bounds (starts, ends), each (L, k), of the first ``k`` single-space-separated tokens of the
    lines starting at ``starts``; None if one of these tokens is empty (a leading or doubled
    space) or longer than TOKEN_WIDTH, or a line ends first."""
    w = TOKEN_WIDTH + 2
    padded = np.frombuffer(buf + b"\n" * w, dtype=np.uint8)
    tok_starts = np.empty((len(starts), k), dtype=np.int64)
    tok_ends = np.empty_like(tok_starts)
    at = starts
    for j in range(k):
        rows = _rows(padded, w, at)  # (L, w) bytes from each token's start
        col = (rows == 32).argmax(axis=1)  # first space; 0 if none, or if the token is empty
        if np.any(col == 0):
            return None
        tok_starts[:, j] = at
        tok_ends[:, j] = at + col
        at = at + col + 1
    return tok_starts, tok_ends


def parse_decimals(buf: bytes, starts: np.ndarray, ends: np.ndarray):
    """Values of the tokens ``buf[starts[i]:ends[i]]`` as float64, or None if one is malformed.

    Equal to ``float(token)`` bit for bit: the digits form an integer ``A`` (exact in float64 up
    to 15 digits) in which the dot holds a column; with ``f`` digits after the dot,
    ``I = floor(A / 10^(f+1))`` is the integer part and the value is
    ``(A - 9 * I * 10^f) / 10^f``, one correctly rounded division. Rows are as wide as the
    longest token up to ``MATRIX_WIDTH``; longer tokens (exponent forms, mostly) go through
    ``float`` one by one.
    """
    starts, ends = np.ravel(starts), np.ravel(ends)
    n = len(starts)
    if n == 0:
        return np.zeros(0)
    lengths = ends - starts
    if int(lengths.min()) < 1:
        return None
    w = min(int(lengths.max()), MATRIX_WIDTH)
    padded = np.frombuffer(b" " * w + buf, dtype=np.uint8)
    chars = _rows(padded, w, ends)  # (n, w): row i ends where token i ends
    first = padded[starts + w]
    signed = (first == 45) | (first == 43)  # '-' or '+'
    body = np.minimum(lengths - signed, w)  # characters after the sign (that fit in a row)
    inside = _rows(_INSIDE[w], w, w * body)  # (n, w) the last ``body`` columns
    digit = chars - np.uint8(48)
    isdig = (digit < 10) & inside
    isdot = (chars == 46) & inside
    dotcol = isdot.argmax(axis=1)
    hasdot = isdot.ravel()[np.arange(0, n * w, w) + dotcol]
    frac = np.where(hasdot, w - 1 - dotcol, 0)  # digits after the dot

    mant = (digit * isdig).astype(np.float64) @ _POW10[-w:]  # (n,) exact integers
    scale = _POW10[::-1][frac]  # 10^frac (a table: np.power is slow)
    whole = np.floor(mant / (10.0 * scale))
    values = np.where(hasdot, (mant - 9.0 * whole * scale) / scale, mant)
    values = np.where(first == 45, -values, values)

    # bodies wider than a row, rows with no digit, and (looked for only when the counts say
    # there are some) rows with two dots or a stray character (exponent forms) go through float
    redo = [np.flatnonzero(lengths - signed > w), np.flatnonzero(body <= hasdot)]
    ndig, ndot = np.count_nonzero(isdig), np.count_nonzero(isdot)
    if ndot != np.count_nonzero(hasdot):
        dots = np.flatnonzero(isdot.ravel()) // w
        redo.append(dots[1:][dots[1:] == dots[:-1]])
    if ndig + ndot != int(body.sum()):
        redo.append(np.flatnonzero((inside & ~isdig & ~isdot).ravel()) // w)
    for i in np.unique(np.concatenate(redo)):
        value = number(buf[starts[i] : ends[i]])
        if value is None:
            return None
        values[i] = value
    return values if np.all(np.abs(values) <= FLOAT32_MAX) else None
