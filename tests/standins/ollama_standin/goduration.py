"""Go's time.Duration text forms, for the stand-in ollama's settings.

``parse_duration`` accepts what Go's ``time.ParseDuration`` accepts and
``format_duration`` prints what Go's ``Duration.String`` prints; both work in
integer nanoseconds. Also the strict integer and boolean parsers of Go's
``strconv`` package that Ollama's settings use.
"""

import re

NANOSECOND = 1
MICROSECOND = 1000
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

MAX_INT64 = (1 << 63) - 1

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek small letter mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}


class GoParseError(ValueError):
    """A value Go's parser would refuse."""


def _is_digit(c):
    return "0" <= c <= "9"


def parse_duration(text):
    """Return nanoseconds for a Go duration string, or raise GoParseError."""
    s = text
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise GoParseError('time: invalid duration "%s"' % text)
    total = 0
    while s:
        if not (s[0] == "." or _is_digit(s[0])):
            raise GoParseError('time: invalid duration "%s"' % text)
        # leading integer
        i = 0
        v = 0
        while i < len(s) and _is_digit(s[i]):
            v = v * 10 + int(s[i])
            if v > 1 << 63:
                raise GoParseError('time: invalid duration "%s"' % text)
            i += 1
        pre = i > 0
        s = s[i:]
        post = False
        frac = 0
        scale = 1.0
        if s and s[0] == ".":
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and _is_digit(s[i]):
                if not overflow:
                    if frac > MAX_INT64 // 10:
                        overflow = True
                    else:
                        y = frac * 10 + int(s[i])
                        if y > 1 << 63:
                            overflow = True
                        else:
                            frac = y
                            scale *= 10
                i += 1
            post = i > 0
            s = s[i:]
        if not pre and not post:
            raise GoParseError('time: invalid duration "%s"' % text)
        i = 0
        while i < len(s) and not (s[i] == "." or _is_digit(s[i])):
            i += 1
        if i == 0:
            raise GoParseError('time: missing unit in duration "%s"' % text)
        unit_name = s[:i]
        s = s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise GoParseError('time: unknown unit "%s" in duration "%s"' % (unit_name, text))
        if v > (1 << 63) // unit:
            raise GoParseError('time: invalid duration "%s"' % text)
        v *= unit
        if frac > 0:
            v += int(float(frac) * (float(unit) / scale))
            if v > 1 << 63:
                raise GoParseError('time: invalid duration "%s"' % text)
        total += v
        if total > 1 << 63:
            raise GoParseError('time: invalid duration "%s"' % text)
    if neg:
        return -total
    if total > MAX_INT64:
        raise GoParseError('time: invalid duration "%s"' % text)
    return total


def _frac(u, prec):
    digits = []
    printed = False
    for _ in range(prec):
        d = u % 10
        printed = printed or d != 0
        if printed:
            digits.append(str(d))
        u //= 10
    text = ("." + "".join(reversed(digits))) if printed else ""
    return text, u


def format_duration(ns):
    """Print nanoseconds the way Go's Duration.String does (``5m0s``, ``1.5s``)."""
    neg = ns < 0
    u = -ns if neg else ns
    if u == 0:
        return "0s"
    if u < SECOND:
        if u < MICROSECOND:
            prec, unit = 0, "ns"
        elif u < MILLISECOND:
            prec, unit = 3, "\u00b5s"
        else:
            prec, unit = 6, "ms"
        frac, u = _frac(u, prec)
        out = "%d%s%s" % (u, frac, unit)
    else:
        frac, u = _frac(u, 9)
        out = "%d%ss" % (u % 60, frac)
        u //= 60
        if u > 0:
            out = "%dm" % (u % 60) + out
            u //= 60
            if u > 0:
                out = "%dh" % u + out
    return ("-" + out) if neg else out


_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
_UINT_RE = re.compile(r"[0-9]+\Z")


def parse_int(text, bits=64):
    """Go strconv.ParseInt(text, 10, bits): optional sign, decimal digits only."""
    if not _INT_RE.match(text):
        raise GoParseError('strconv.ParseInt: parsing "%s": invalid syntax' % text)
    n = int(text, 10)
    if not -(1 << (bits - 1)) <= n <= (1 << (bits - 1)) - 1:
        raise GoParseError('strconv.ParseInt: parsing "%s": value out of range' % text)
    return n


def parse_uint(text, bits=64):
    """Go strconv.ParseUint(text, 10, bits): decimal digits only, no sign."""
    if not _UINT_RE.match(text):
        raise GoParseError('strconv.ParseUint: parsing "%s": invalid syntax' % text)
    n = int(text, 10)
    if n > (1 << bits) - 1:
        raise GoParseError('strconv.ParseUint: parsing "%s": value out of range' % text)
    return n


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def parse_bool(text):
    """Go strconv.ParseBool."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise GoParseError('strconv.ParseBool: parsing "%s": invalid syntax' % text)
