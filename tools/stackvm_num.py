"""Exact numbers for the stack machine: rendering, parsing and the costly operations.

Values are Python ``int`` (every integral value, never a ``Fraction`` with
denominator 1), ``fractions.Fraction`` (non-integral rationals) and ``str``.
Keeping integers as plain ints is what makes integer programs fast.

Size limit: a number is too large when its numerator or denominator has more
than ``max_digits`` decimal digits, i.e. ``abs(part) >= 10**max_digits``.
Operations whose result could be huge (``pow``, ``round``, ``sqrt``) estimate
the size first and fail before computing anything expensive.

Python 3.11 refuses ``str(n)``/``int(s)`` beyond 4300 digits; ``int_str`` and
``parse_int`` split big numbers so that limit never matters here.
"""
from __future__ import annotations

import math
from fractions import Fraction

LOG10_2 = math.log10(2)
LOG2_5 = math.log2(5)
SQRT_DIGITS = 30  # significant digits of an inexact square root (spec)


class VMFault(Exception):
    """A typed runtime failure: ``type`` is the spec's error name, ``detail``
    the "needs ..., found ..." part of the message (the instruction name and the
    line are added by the caller)."""

    def __init__(self, type: str, detail: str):
        super().__init__(detail)
        self.type = type
        self.detail = detail


# ----------------------------------------------------------------- rendering

def int_str(n: int) -> str:
    """``str(n)`` without Python's 4300-digit guard (divide and conquer)."""
    if n.bit_length() < 14_000:
        return str(n)
    if n < 0:
        return "-" + int_str(-n)
    k = int(n.bit_length() * LOG10_2) // 2
    hi, lo = divmod(n, 10 ** k)
    return int_str(hi) + int_str(lo).rjust(k, "0")


def parse_int(digits: str) -> int:
    """``int(digits)`` for a string of ASCII digits of any length."""
    if len(digits) <= 4000:
        return int(digits)
    k = len(digits) // 2
    return parse_int(digits[:-k]) * 10 ** k + parse_int(digits[-k:])


def decimal_places(den: int) -> int | None:
    """Places needed to write 1/den exactly as a decimal, or None if it never ends."""
    twos = (den & -den).bit_length() - 1
    rest = den >> twos
    fives = 0
    if rest != 1:
        fives = round(rest.bit_length() / LOG2_5)
        for f in (fives - 1, fives, fives + 1):
            if f > 0 and 5 ** f == rest:
                fives = f
                break
        else:
            return None
    return max(twos, fives)


def render(v: int | Fraction | str) -> str:
    """Integers in plain digits; other rationals as an exact decimal when it
    terminates (13/4 -> 3.25), else ``n/d``; strings as themselves."""
    if type(v) is int:
        return int_str(v)
    if type(v) is str:
        return v
    n, d = v.numerator, v.denominator
    if d == 1:
        return int_str(n)
    places = decimal_places(d)
    if places is None:
        return f"{int_str(n)}/{int_str(d)}"
    m = int_str(abs(n) * (10 ** places // d)).rjust(places + 1, "0")
    return ("-" if n < 0 else "") + m[:-places] + "." + m[-places:]


def render_size(v: int | Fraction | str) -> int:
    """An upper bound on ``len(render(v))``, computed without rendering."""
    if type(v) is str:
        return len(v)
    if type(v) is int:
        return int(v.bit_length() * LOG10_2) + 2
    n, d = v.numerator, v.denominator
    return int((n.bit_length() + 2 * d.bit_length()) * LOG10_2) + 4


def describe(v: int | Fraction | str, width: int = 40) -> str:
    """A value for error messages: ``number 3``, ``string "ab"`` (clipped)."""
    if type(v) is str:
        s = v if len(v) <= width else v[:width] + "..."
        return 'string "' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if render_size(v) > 4 * width:
        return f"number with about {render_size(v)} digits"
    s = render(v)
    return "number " + (s if len(s) <= width else s[: width // 2] + "..." + s[-width // 2:])


# ------------------------------------------------------------------- numbers

def norm(r: Fraction) -> int | Fraction:
    return r.numerator if r.denominator == 1 else r


def check_size(v: int | Fraction, limit: int, max_digits: int) -> int | Fraction:
    """Return ``v`` (normalized) or raise NumberTooLarge; ``limit == 10**max_digits``."""
    if type(v) is int:
        if -limit < v < limit:
            return v
        raise VMFault("NumberTooLarge", _too_large(max_digits, v.bit_length()))
    if v.denominator == 1:
        return check_size(v.numerator, limit, max_digits)
    if -limit < v.numerator < limit and v.denominator < limit:
        return v
    bits = max(v.numerator.bit_length(), v.denominator.bit_length())
    raise VMFault("NumberTooLarge", _too_large(max_digits, bits))


def _too_large(max_digits: int, bits: float) -> str:
    about = int(bits * LOG10_2) + 1
    return (f"would make a number of about {about} digits, expected at most "
            f"{max_digits} digits (numerator and denominator)")


def power(a: int | Fraction, b: int | Fraction | str, limit: int, max_digits: int):
    """``a ** b`` exactly, b an integer; the result size is estimated first."""
    if type(b) is not int:
        if type(b) is str:
            raise TypeError
        raise VMFault("DomainError", f"needs an integer exponent, found {describe(b)}")
    if a == 0 and b < 0:
        raise VMFault("DivisionByZero",
                      f"needs a nonzero base for a negative exponent, found 0 to the power {b}")
    if b == 0:
        return 1
    num, den = (a, 1) if type(a) is int else (a.numerator, a.denominator)
    if num in (0, 1, -1) and den == 1:
        return num if (num != -1 or b % 2) else 1
    # |x| >= 2**(bit_length-1), so |x|**|b| has at least this many digits:
    bits = abs(b) * (max(abs(num).bit_length(), den.bit_length()) - 1)
    if bits * LOG10_2 > max_digits + 1:
        raise VMFault("NumberTooLarge", _too_large(max_digits, bits))
    return check_size(norm(Fraction(a) ** b) if type(a) is not int or b < 0 else a ** b,
                      limit, max_digits)


def square_root(x: int | Fraction, limit: int, max_digits: int):
    """Exact root of a perfect square of a rational, else the root rounded to
    30 significant digits (returned as the exact rational of that decimal).
    Rounding is to nearest; an irrational root is never exactly halfway."""
    if x < 0:
        raise VMFault("DomainError", f"needs a number >= 0, found {describe(x)}")
    num, den = (x, 1) if type(x) is int else (x.numerator, x.denominator)
    rn, rd = math.isqrt(num), math.isqrt(den)
    if rn * rn == num and rd * rd == den:
        return norm(Fraction(rn, rd)) if rd != 1 else rn
    # sqrt(x) = sqrt(num/den); pick k so floor(sqrt(x) * 10**k) has >= 32 digits
    mag = int((num.bit_length() - den.bit_length()) * LOG10_2) // 2  # ~log10 sqrt(x)
    k = SQRT_DIGITS + 2 - mag
    while True:
        scaled = num * 10 ** (2 * k) // den if k >= 0 else num // (den * 10 ** (-2 * k))
        r = math.isqrt(scaled)  # floor(sqrt(x) * 10**k)
        ndig = len(str(r)) if r.bit_length() < 14_000 else len(int_str(r))
        if ndig > SQRT_DIGITS:
            break
        k += SQRT_DIGITS + 2 - ndig
    drop = ndig - SQRT_DIGITS
    unit = 10 ** drop
    q, rem = divmod(r, unit)
    if 2 * rem >= unit:  # the true value is strictly above r, so >= means above half
        q += 1
    exp = drop - k  # result = q * 10**exp
    val = q * 10 ** exp if exp >= 0 else Fraction(q, 10 ** -exp)
    return check_size(val if type(val) is int else norm(val), limit, max_digits)


def round_to(x: int | Fraction, places: int, limit: int, max_digits: int):
    """Round to ``places`` decimal places, ties to even (exact)."""
    if type(x) is int:
        return x
    if places > 2 * max_digits + 2:
        # Far past the limit: the result is x itself if x ends within
        # `places` digits, otherwise its denominator would be ~10**places.
        need = decimal_places(x.denominator)
        if need is not None and need <= places:
            return x
        raise VMFault("NumberTooLarge", _too_large(max_digits, places / LOG10_2))
    return check_size(norm(Fraction(round(x, places))), limit, max_digits)
