"""Log lines in the form of Go's log/slog text handler, as Ollama's server writes them.

``time=2026-01-02T03:04:05.678Z level=INFO source=routes.go:1588 msg="server config" env="map[...]"``
"""

import datetime
import sys
import threading
import unicodedata

_LOCK = threading.Lock()

_LEVEL_NAMES = ((-4, "DEBUG"), (0, "INFO"), (4, "WARN"), (8, "ERROR"))


def level_name(level):
    """slog.Level.String(): INFO, DEBUG, DEBUG-4 (trace), WARN, ERROR+2..."""
    if level < 0:
        base, val = "DEBUG", level + 4
    elif level < 4:
        base, val = "INFO", level
    elif level < 8:
        base, val = "WARN", level - 4
    else:
        base, val = "ERROR", level - 8
    return base if val == 0 else "%s%+d" % (base, val)


def go_time(now=None):
    """RFC 3339 with milliseconds, local zone, ``Z`` for UTC (slog's format)."""
    now = now or datetime.datetime.now().astimezone()
    text = now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d" % (now.microsecond // 1000)
    off = now.utcoffset() or datetime.timedelta(0)
    if off == datetime.timedelta(0):
        return text + "Z"
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return text + "%s%02d:%02d" % (sign, minutes // 60, minutes % 60)


def _needs_quoting(s):
    if not s:
        return True
    for ch in s:
        o = ord(ch)
        if o < 0x80:
            if ch != "\\" and (ch in ' ="' or o < 0x21 or o == 0x7F):
                return True
        elif ch.isspace() or not ch.isprintable() or ch == "\ufffd":
            return True
    return False


def go_quote(s):
    """strconv.Quote: double quotes, backslash escapes, printable Unicode kept."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\a\b\f\n\r\t\v":
            out.append({"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                        "\t": "\\t", "\v": "\\v"}[ch])
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        elif o >= 0x80 and (not ch.isprintable() or unicodedata.category(ch).startswith("Z")
                            and ch != " "):
            out.append("\\u%04x" % o if o <= 0xFFFF else "\\U%08x" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def text_value(value):
    """A value as slog's text handler prints it."""
    if isinstance(value, bool):
        s = "true" if value else "false"
    else:
        s = str(value)
    return go_quote(s) if _needs_quoting(s) else s


def format_line(level, source, msg, attrs=(), now=None):
    parts = ["time=" + go_time(now), "level=" + level_name(level), "source=" + source,
             "msg=" + text_value(msg)]
    for key, value in attrs:
        parts.append("%s=%s" % (key, text_value(value)))
    return " ".join(parts)


class Logger:
    """Writes slog-style lines to a stream (stderr by default), filtered by level."""

    def __init__(self, level=0, stream=None):
        self.level = level
        self.stream = stream

    def log(self, level, source, msg, *pairs):
        if level < self.level:
            return
        attrs = list(zip(pairs[0::2], pairs[1::2]))
        line = format_line(level, source, msg, attrs)
        stream = self.stream or sys.stderr
        with _LOCK:
            stream.write(line + "\n")
            stream.flush()

    def info(self, source, msg, *pairs):
        self.log(0, source, msg, *pairs)

    def warn(self, source, msg, *pairs):
        self.log(4, source, msg, *pairs)

    def error(self, source, msg, *pairs):
        self.log(8, source, msg, *pairs)

    def debug(self, source, msg, *pairs):
        self.log(-4, source, msg, *pairs)
