# -*- coding: utf-8 -*-
# Copyright: (c) 2026, localllm.workstation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ollama model names: ``[host/][namespace/]model[:tag]``.

The rules follow Ollama's ``types/model/name.go``:

* the tag is whatever follows the last ``:`` when that ``:`` comes after the last
  ``/`` (so ``host:5000/ns/model`` has a port, not a tag);
* the rest is cut at ``/`` from the right: model, then namespace, then host; a
  ``scheme://`` in front of the host is dropped; three-part names whose middle
  part is ``skill``, ``agent`` or ``mcp`` carry a *kind* as well;
* every part starts with a letter, a digit or ``_`` and goes on with letters,
  digits, ``_``, ``-`` and ``.``; a namespace may not hold ``.``; only the host
  may hold ``:`` (its port);
* host 1 to 350 characters, every other part 1 to 80;
* missing parts take the defaults ``registry.ollama.ai``, ``library`` and
  ``latest``; names compare without regard to case.

Ollama does not accept ``name@sha256:...`` pins; they are refused here with a
message saying so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
KINDS = ("skill", "agent", "mcp")

_MAX_LEN = {"host": 350}
_DEFAULT_MAX = 80
_MISSING = object()

_EXAMPLES = ("write [host[:port]/][namespace/]model[:tag], for example 'llama3.2', "
             "'llama3.2:3b', 'hf.co/org/repo:Q4_K_M' or 'localhost:5000/team/model:v1'")

_PART_WORDS = {
    "host": "host",
    "namespace": "namespace",
    "kind": "kind",
    "model": "model",
    "tag": "tag",
}


class ModelName(namedtuple("ModelName", "host namespace kind model tag")):
    """A parsed and completed model name; ``kind`` is '' for plain models."""

    __slots__ = ()

    @property
    def qualified(self):
        """Fully qualified form: ``host/namespace/[kind/]model:tag``."""
        parts = [self.host, self.namespace]
        if self.kind:
            parts.append(self.kind)
        parts.append(self.model)
        return "/".join(parts) + ":" + self.tag

    @property
    def shortest(self):
        """The form ``/api/tags`` shows, e.g. ``llama3.2:latest``."""
        prefix = ""
        if self.host.lower() != DEFAULT_HOST:
            prefix = self.host + "/" + self.namespace + "/"
        elif self.namespace.lower() != DEFAULT_NAMESPACE:
            prefix = self.namespace + "/"
        if self.kind:
            prefix += self.kind + "/"
        return prefix + self.model + ":" + self.tag

    @property
    def key(self):
        """A value equal for two names Ollama treats as the same model."""
        return tuple(part.lower() for part in self)

    @property
    def repository(self):
        """The registry path of the model: ``namespace/[kind/]model``."""
        if self.kind:
            return "%s/%s/%s" % (self.namespace, self.kind, self.model)
        return "%s/%s" % (self.namespace, self.model)

    def __str__(self):
        return self.shortest


def _cut_last(text, sep):
    """Cut at the last sep; an empty side of a present sep is marked missing."""
    index = text.rfind(sep)
    if index < 0:
        return text, None, False
    before, after = text[:index], text[index + len(sep):]
    return (before if before else _MISSING), (after if after else _MISSING), True


def _split(text):
    """Split like Ollama's ParseNameBare; returns a dict of raw parts."""
    parts = {"host": "", "namespace": "", "kind": "", "model": "", "tag": ""}
    if text.rfind(":") > text.rfind("/"):
        text, parts["tag"], dummy = _cut_last(text, ":")
    if text is _MISSING:
        parts["model"] = _MISSING
        return parts
    rest, model, promised = _cut_last(text, "/")
    if not promised:
        parts["model"] = rest
        return parts
    parts["model"] = model
    if rest is _MISSING:
        parts["namespace"] = _MISSING
        return parts
    rest, middle, promised = _cut_last(rest, "/")
    if not promised:
        parts["namespace"] = rest
        return parts
    if middle is _MISSING or middle not in KINDS:
        parts["namespace"] = middle
        parts["host"] = _strip_scheme(rest)
        return parts
    parts["kind"] = middle
    if rest is _MISSING:
        parts["namespace"] = _MISSING
        return parts
    rest, namespace, promised = _cut_last(rest, "/")
    if not promised:
        parts["namespace"] = rest
        return parts
    parts["namespace"] = namespace
    parts["host"] = _strip_scheme(rest)
    return parts


def _strip_scheme(host):
    if host is _MISSING:
        return host
    scheme, sep, rest = host.partition("://")
    return rest if sep else scheme


def _is_word_char(char):
    return char == "_" or ("a" <= char <= "z") or ("A" <= char <= "Z") or ("0" <= char <= "9")


def _check_part(kind, value, text):
    """Raise ValueError when one part breaks Ollama's rules."""
    word = _PART_WORDS[kind]
    if value is _MISSING or value == "":
        where = {
            "host": "before the namespace",
            "namespace": "before the model",
            "model": "",
            "tag": "after ':'",
            "kind": "",
        }[kind]
        raise ValueError("invalid model name %r: the %s%s is empty; %s"
                         % (text, word, (" " + where) if where else "", _EXAMPLES))
    limit = _MAX_LEN.get(kind, _DEFAULT_MAX)
    if len(value) > limit:
        raise ValueError("invalid model name %r: the %s %r is %d characters long, at most %d "
                         "are allowed; shorten it" % (text, word, value, len(value), limit))
    if not _is_word_char(value[0]):
        raise ValueError("invalid model name %r: the %s %r must start with a letter, a digit "
                         "or '_'; %s" % (text, word, value, _EXAMPLES))
    for char in value[1:]:
        if _is_word_char(char) or char in "-_":
            continue
        if char == ".":
            if kind == "namespace":
                raise ValueError("invalid model name %r: the namespace %r may not contain '.'; "
                                 "a part with dots before the model needs a namespace after "
                                 "it (host/namespace/model), as in "
                                 "'hf.co/org/repo'" % (text, value))
            continue
        if char == ":" and kind == "host":
            continue
        raise ValueError("invalid model name %r: the %s %r contains %r; a %s may hold only "
                         "letters, digits, '_', '-'%s; %s"
                         % (text, word, value, char, word,
                            {"host": ", '.' and ':' (port)",
                             "namespace": ""}.get(kind, " and '.'"), _EXAMPLES))


def parse_model_name(text):
    """Parse ``text`` into a complete :class:`ModelName`.

    Raises ValueError with a message saying what is wrong and what to write.
    """
    if not isinstance(text, str):
        raise ValueError("invalid model name %r: a model name is a string; %s"
                         % (text, _EXAMPLES))
    if text == "":
        raise ValueError("invalid model name '': the name is empty; " + _EXAMPLES)
    if text != text.strip():
        raise ValueError("invalid model name %r: remove the spaces around it" % text)
    if "@" in text:
        raise ValueError("invalid model name %r: Ollama does not accept a digest pin "
                         "('@sha256:...') in a model name; name a tag instead, for example "
                         "'llama3.2:3b'" % text)
    parts = _split(text)
    if parts["kind"] and parts["kind"] not in KINDS:
        raise ValueError("invalid model name %r: unknown kind %r" % (text, parts["kind"]))
    if parts["host"] not in ("", _MISSING) and "/" in parts["host"]:
        raise ValueError("invalid model name %r: too many '/'-separated parts; at most "
                         "host/namespace/model:tag is allowed" % text)
    for kind in ("host", "namespace", "model", "tag"):
        value = parts[kind]
        if value == "" and kind != "model":
            continue
        _check_part(kind, value, text)
    return ModelName(
        host=parts["host"] or DEFAULT_HOST,
        namespace=parts["namespace"] or DEFAULT_NAMESPACE,
        kind=parts["kind"],
        model=parts["model"],
        tag=parts["tag"] or DEFAULT_TAG,
    )


def is_valid_model_name(text):
    """True when ``text`` parses."""
    try:
        parse_model_name(text)
    except ValueError:
        return False
    return True


def qualified_name(text):
    """``llama3.2`` -> ``registry.ollama.ai/library/llama3.2:latest``."""
    return parse_model_name(text).qualified


def shortest_name(text):
    """``registry.ollama.ai/library/llama3.2`` -> ``llama3.2:latest``."""
    return parse_model_name(text).shortest


def same_model(first, second):
    """True when both names refer to one model (case-insensitive).

    A name that does not parse is equal to nothing.
    """
    try:
        return parse_model_name(first).key == parse_model_name(second).key
    except ValueError:
        return False


def find_listed(models, name):
    """The entry of an ``/api/tags``-style list that names ``name`` (a ModelName), or None.

    Either of an entry's ``name`` and ``model`` fields may name it; case does not matter.
    """
    for entry in models:
        for field in ("name", "model"):
            try:
                if parse_model_name(entry.get(field) or "").key == name.key:
                    return entry
            except ValueError:
                continue
    return None


def listed_shortest(entry, name):
    """The short form of the name ``entry`` lists, else ``name.shortest`` (a ModelName).

    Ollama compares names without regard to case, so ``TinyLlama`` and ``tinyllama`` are
    one model; this names it as the server does.
    """
    listed = (entry or {}).get("name") or (entry or {}).get("model")
    if not listed:
        return name.shortest
    try:
        return parse_model_name(listed).shortest
    except ValueError:
        return listed
