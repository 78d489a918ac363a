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

TOKEN_WIDTH = 16  # longest token the fast road takes (15 digits + dot: exact in float64)

_RCOL = np.arange(TOKEN_WIDTH - 1, -1, -1, dtype=np.uint8)  # distance of a column from row end
_POW10 = 10.0 ** _RCOL.astype(np.float64)  # (W,) power of ten of a right-aligned digit column
# row k (flattened, one row per TOKEN_WIDTH bytes): True in the last k columns
_INSIDE = (_RCOL[None, :] < np.arange(TOKEN_WIDTH + 1)[:, None]).ravel()


def _rows(padded: np.ndarray, width: int, at: np.ndarray) -> np.ndarray:
    """(len(at), width) uint8: the ``width`` bytes of ``padded`` starting at each ``at``."""
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


def leading_tokens(buf: bytes, starts: np.ndarray, k: int):
    """Bounds (starts, ends), each (L, k), of the first ``k`` single-space-separated tokens of the
    lines starting at ``starts``; None if one of these tokens is empty (a leading or doubled
    space) or longer than TOKEN_WIDTH, or a line ends first."""
    w = TOKEN_WIDTH + 1
    padded = np.frombuffer(buf + b"\n" * w, dtype=np.uint8)
    tok_starts = np.empty((len(starts), k), dtype=np.int64)
    tok_ends = np.empty_like(tok_starts)
    at = starts
    rows_idx = np.arange(len(starts))
    for j in range(k):
        rows = _rows(padded, w, at)  # (L, w) bytes from each token's start
        col = (rows == 32).argmax(axis=1)  # first space; 0 if none (caught below)
        if np.any(rows[rows_idx, col] != 32) or np.any(col == 0):
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
    ``(A - 9 * I * 10^f) / 10^f``, one correctly rounded division.
    """
    starts, ends = np.ravel(starts), np.ravel(ends)
    n = len(starts)
    if n == 0:
        return np.zeros(0)
    w = TOKEN_WIDTH
    lengths = ends - starts
    if int(lengths.min()) < 1 or int(lengths.max()) > w:
        return None
    padded = np.frombuffer(b" " * w + buf, dtype=np.uint8)
    chars = _rows(padded, w, ends)  # (n, w): row i ends where token i ends
    first = padded[starts + w]
    signed = (first == 45) | (first == 43)  # '-' or '+'
    body = lengths - signed  # characters after the sign
    inside = _rows(_INSIDE, w, w * body)  # (n, w) the last ``body`` columns
    digit = chars - np.uint8(48)
    isdig = (digit < 10) & inside
    isdot = (chars == 46) & inside
    dotcol = isdot.argmax(axis=1)
    hasdot = isdot.ravel()[np.arange(0, n * w, w) + dotcol]
    frac = np.where(hasdot, w - 1 - dotcol, 0)  # digits after the dot
    # every row valid <=> no stray character, at most one dot per row, a digit in every row
    ok = np.count_nonzero(isdig) + np.count_nonzero(isdot) == int(body.sum())
    ok = ok and np.count_nonzero(isdot) == np.count_nonzero(hasdot)
    ok = ok and bool(np.all(body > hasdot))

    mant = (digit * isdig).astype(np.float64) @ _POW10  # (n,) exact integers
    scale = _POW10[::-1][frac]  # 10^frac (a table: np.power is slow)
    whole = np.floor(mant / (10.0 * scale))
    values = np.where(hasdot, (mant - 9.0 * whole * scale) / scale, mant)
    values = np.where(first == 45, -values, values)
    if not ok:
        return _patch_exponents(buf, starts, ends, values, chars, inside, isdig, isdot)
    return values


def _patch_exponents(buf, starts, ends, values, chars, inside, isdig, isdot):
    """Parse rows holding other characters (exponent forms) with ``float``; None if any fails."""
    stray = inside & ~isdig & ~isdot
    bad = stray.any(axis=1) | (isdot.sum(axis=1) > 1) | ~isdig.any(axis=1)
    for i in np.flatnonzero(bad):
        token = buf[starts[i] : ends[i]]
        if b"e" not in token.lower():
            return None
        try:
            values[i] = float(token)
        except ValueError:
            return None
    return values
