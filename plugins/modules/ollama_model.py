#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, localllm.workstation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Pull, update, derive and remove models on an Ollama server
version_added: "0.1.0"
description:
  - Makes sure a model is on an Ollama server, is the newest one its registry
    offers, or is gone, through Ollama's HTTP API.
  - With O(from_model), the model is a derived one made with C(/api/create) from a
    base model plus a system prompt, a template and parameters. It is made again
    only when what the server holds differs from what the task asks for.
  - Model names follow Ollama's grammar C([host[:port]/][namespace/]model[:tag]) and
    are checked before any request is sent.
author:
  - localllm.workstation contributors
options:
  name:
    description:
      - The model, for example V(llama3.2), V(llama3.2:3b), V(hf.co/org/repo:Q4_K_M)
        or V(registry.example.com:5000/team/model:v1).
      - Missing parts take Ollama's defaults V(registry.ollama.ai), V(library) and
        V(latest); V(llama3.2) and V(registry.ollama.ai/library/llama3.2:latest)
        are the same model. Case does not matter, as in Ollama.
    type: str
    required: true
  state:
    description:
      - V(present) pulls the model when the server does not have it (or, with
        O(from_model), creates it).
      - V(latest) also asks the model's registry for its manifest and pulls when
        the manifest's digest differs from the local copy's. With O(from_model) the
        base model is brought up to date this way and the derived model is made
        again when its base changed.
      - V(absent) removes the model.
    type: str
    choices: [present, absent, latest]
    default: present
  insecure:
    description:
      - Allow a registry that speaks plain HTTP or has a certificate that does not
        verify. Needed for C(host:port/namespace/model) names served over http.
      - Also makes the manifest check of O(state=latest) use http.
    type: bool
    default: false
  host:
    description:
      - Address of the Ollama server, read the way Ollama's own client reads
        E(OLLAMA_HOST) - V(127.0.0.1:11434), V(http://gpu-box:11434),
        V(https://ollama.example.com) or V(0.0.0.0) (which means loopback).
      - When not set, E(OLLAMA_HOST) in the environment of the module on the target
        is used, then V(http://127.0.0.1:11434).
    type: str
  timeout:
    description:
      - Seconds the server may stay silent during a request before the module gives
        up. Each progress line of a pull or create starts the count again, so a
        long download is not cut short while it makes progress.
    type: int
    default: 3600
  connect_timeout:
    description:
      - Seconds to wait for the server to accept a connection.
    type: int
    default: 10
  retries:
    description:
      - How many more times to try when the server does not accept a connection
        (for example while the service is starting). Errors the server sends back
        are never retried. From 0 to 100.
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds to wait after the first failed connection; the wait doubles after
        each further failure, up to 30 seconds. From 0 to 3600.
    type: float
    default: 2.0
  from_model:
    description:
      - Base model of a derived model. The module sends C(/api/create) with
        O(name), this base, O(system), O(template) and O(parameters).
      - The base is pulled first when the server does not have it.
    type: str
    aliases: [from]
  system:
    description:
      - System prompt of the derived model. When not set, the base model's is kept.
    type: str
  template:
    description:
      - Prompt template (Go template syntax) of the derived model. When not set, the
        base model's is kept.
    type: str
  parameters:
    description:
      - Parameters of the derived model, for example C(num_ctx), C(temperature) or
        C(stop) (a list). Parameters of the base not named here are kept, as Ollama
        does.
      - Each value is text, a number, true or false, or a non-empty list of those. A
        null, an empty list or a nested mapping is refused, since Ollama would store
        no value or a value it cannot read.
    type: dict
attributes:
  check_mode:
    support: full
    description: Reads the server (and, for O(state=latest), the registry); sends no
      pull, create or delete.
  diff_mode:
    support: full
    description: Shows the sorted model names, one a line, before and after.
notes:
  - No Python package beyond the standard library is needed on the target.
  - For O(state=latest) the target itself fetches the manifest from the model's
    registry (C(https://<host>/v2/<namespace>/<model>/manifests/<tag>), or http with
    O(insecure)). When the registry cannot be reached from the target, the module
    warns and pulls anyway; the task then reports a change only if the local
    digest changed. In check mode it warns and reports that it would pull.
  - The comparison relies on Ollama storing the manifest exactly as the registry
    served it, which holds for registries that Ollama pushes to. A registry that
    rewrites manifests makes O(state=latest) pull at every run, without download
    and without reporting a change.
  - RV(transferred) counts the layers the server did not have before the pull when
    the manifest is known (O(state=latest)); otherwise it counts the layers the
    progress stream reported as not yet complete, which can miss a very small
    layer that finished before Ollama's first progress report.
  - A derived model is compared through C(/api/show) - system prompt, template,
    parameters (the base's merged with O(parameters)) and the model layer named in
    the C(FROM) line of its modelfile against the base's. Setting O(system) or
    O(template) to an empty string keeps the base's, as C(/api/create) does.
  - A failed pull or create fails the task with Ollama's error text; the module
    then asks C(/api/tags) again and says whether the model is listed.
  - Ollama does not accept C(name@sha256:...) pins; name a tag instead.
seealso:
  - module: localllm.workstation.ollama_model_info
"""

EXAMPLES = r"""
- name: Make sure llama3.2 is on the local Ollama server
  localllm.workstation.ollama_model:
    name: llama3.2:3b

- name: Keep a model up to date with its registry
  localllm.workstation.ollama_model:
    name: qwen2.5-coder:7b
    state: latest
    timeout: 7200

- name: Pull from a plain-http registry on the lab network
  localllm.workstation.ollama_model:
    name: registry.lab.example:5000/team/assistant:v3
    insecure: true

- name: Derive a model with a long context and a house system prompt
  localllm.workstation.ollama_model:
    name: house-assistant
    from: llama3.2:3b
    system: You answer in short, plain sentences.
    parameters:
      num_ctx: 16384
      temperature: 0.3
      stop: ["<|eot_id|>"]

- name: Remove a model from a server on another host
  localllm.workstation.ollama_model:
    name: mistral:7b
    state: absent
    host: http://gpu-box.example:11434
"""

RETURN = r"""
model:
  description: The model's name in the short form C(/api/tags) shows; as O(name) was
    written (short form) when the server does not have the model.
  returned: always
  type: str
  sample: llama3.2:latest
action:
  description: What was done (or, in check mode, would be done).
  returned: always
  type: str
  choices: [pulled, removed, created, none]
  sample: pulled
digest:
  description: Hex sha256 of the model's manifest as C(/api/tags) shows it after the
    task; in check mode the registry's digest when known; null when absent.
  returned: always
  type: str
  sample: a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72
size:
  description: Bytes the model takes on the server (C(/api/tags)); null when absent
    or not yet pulled in check mode.
  returned: always
  type: int
  sample: 2019393189
transferred:
  description: What the pull actually downloaded. Zero when every layer was on the
    server already.
  returned: always
  type: dict
  contains:
    layers:
      description: Number of layers downloaded.
      type: int
      sample: 1
    bytes:
      description: Bytes downloaded.
      type: int
      sample: 2019377376
status_lines:
  description: The status texts of the pull or create stream, repeated progress
    lines folded into one, at most the last 50.
  returned: always
  type: list
  elements: str
  sample: [pulling manifest, pulling dde5aa3fc5ff, verifying sha256 digest,
           writing manifest, success]
differences:
  description: For a derived model, what differed from the task (empty when nothing
    did or for a pulled model).
  returned: always
  type: list
  elements: str
  sample: ["parameters: num_ctx 4096 -> 8192"]
diff:
  description: The server's model names, sorted, one a line, before and after.
  returned: when diff mode is on
  type: dict
  sample: {"before": "mistral:7b\n", "after": "llama3.2:latest\nmistral:7b\n",
           "before_header": "models on http://127.0.0.1:11434",
           "after_header": "models on http://127.0.0.1:11434"}
"""

import math
import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.localllm.workstation.plugins.module_utils.model_name import (
    find_listed,
    is_valid_model_name,
    listed_shortest,
    parse_model_name,
)
from ansible_collections.localllm.workstation.plugins.module_utils.ollama_api import (
    OllamaClient,
    OllamaConnectionError,
    OllamaError,
    OllamaHTTPError,
    OllamaProtocolError,
    OllamaStreamError,
    OllamaTimeoutError,
    RegistryError,
    fetch_manifest,
    host_from_environment,
    parse_show_parameters,
    resolve_host,
    timing_problem,
)

STATUS_LINES_KEPT = 50


def argument_spec():
    return dict(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent", "latest"]),
        insecure=dict(type="bool", default=False),
        host=dict(type="str"),
        timeout=dict(type="int", default=3600),
        connect_timeout=dict(type="int", default=10),
        retries=dict(type="int", default=3),
        retry_delay=dict(type="float", default=2.0),
        from_model=dict(type="str", aliases=["from"]),
        system=dict(type="str"),
        template=dict(type="str"),
        parameters=dict(type="dict"),
    )


class TaskFailed(Exception):
    """A failure with extra result keys for fail_json."""

    def __init__(self, msg, **extra):
        super(TaskFailed, self).__init__(msg)
        self.msg = msg
        self.extra = extra


def canonical(value):
    """A comparable form of a parameter value: numbers as float, lists as tuples."""
    if isinstance(value, (list, tuple)):
        items = tuple(canonical(item) for item in value)
        return items[0] if len(items) == 1 else items
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if value is None:
        return None
    text = str(value)
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text


def show_text(value):
    """A parameter value written the way a person reads it in a difference."""
    value = canonical(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(show_text(item) for item in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def modelfile_blob(show):
    """The sha256 of the model layer named in a modelfile's FROM line, or None."""
    for line in ((show or {}).get("modelfile") or "").splitlines():
        if line.upper().startswith("FROM "):
            path = line[5:].strip()
            marker = path.rfind("sha256")
            if marker >= 0:
                return path[marker + len("sha256") + 1:].strip()
    return None


def model_names(models):
    return sorted(entry.get("name") or entry.get("model") or "" for entry in models)


def _count(value):
    """A byte count from a progress line, or None when it is not a whole number >= 0."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        finite = value == value and value not in (float("inf"), float("-inf"))
        return int(value) if finite and value >= 0 and value.is_integer() else None
    if isinstance(value, str) and re.match(r"^[0-9]+$", value.strip()):
        return int(value)
    return None


class StatusLog:
    """Status texts of a stream, repeated ones folded; per-layer progress kept."""

    def __init__(self):
        self.lines = []
        self.layers = {}

    def __call__(self, item):
        status = str(item.get("status", ""))
        if status and (not self.lines or self.lines[-1] != status):
            self.lines.append(status)
        digest = item.get("digest")
        total = _count(item.get("total"))
        if digest and total:
            layer = self.layers.setdefault(str(digest), {
                "total": total, "first": _count(item.get("completed")) or 0})
            layer["total"] = total

    @property
    def kept(self):
        return self.lines[-STATUS_LINES_KEPT:]

    def transferred(self):
        """Layers the stream showed as incomplete at least once."""
        layers = 0
        size = 0
        for layer in self.layers.values():
            if layer["first"] < layer["total"]:
                layers += 1
                size += layer["total"] - layer["first"]
        return {"layers": layers, "bytes": size}


class ModelTask:
    def __init__(self, module, client, name, base):
        self.module = module
        self.client = client
        self.name = name
        self.base = base
        self.params = module.params
        self.check = module.check_mode
        self.changed = False
        self.action = "none"
        self.log = StatusLog()
        self.transferred = {"layers": 0, "bytes": 0}
        self.differences = []

    # -- helpers --------------------------------------------------------
    def result(self, models_before, models_after, entry):
        result = dict(
            changed=self.changed,
            model=listed_shortest(entry, self.name),
            action=self.action,
            digest=(entry or {}).get("digest"),
            size=(entry or {}).get("size"),
            transferred=self.transferred,
            status_lines=self.log.kept,
            differences=self.differences,
        )
        if self.module._diff:
            result["diff"] = {
                "before": "".join(n + "\n" for n in model_names(models_before)),
                "after": "".join(n + "\n" for n in sorted(models_after)),
                "before_header": "models on %s" % self.client.base_url,
                "after_header": "models on %s" % self.client.base_url,
            }
        return result

    def remote_digest(self, name):
        """(digest, manifest) from the registry, or (None, None) with a warning."""
        try:
            return fetch_manifest(name, insecure=self.params["insecure"],
                                  timeout=max(self.params["connect_timeout"], 30))
        except RegistryError as exc:
            self.module.warn("could not compare %s with its registry: %s; %s"
                             % (name.shortest, exc,
                                "reporting that it would pull" if self.check
                                else "pulling to let Ollama decide"))
            return None, None

    def needs_pull(self, name, entry):
        """(pull?, expected digest, manifest) for one model under the task's state."""
        if self.params["state"] != "latest":
            return entry is None, None, None
        digest, manifest = self.remote_digest(name)
        if digest is None:
            return True, None, None
        if entry is not None and entry.get("digest") == digest:
            return False, digest, manifest
        return True, digest, manifest

    def missing_layers(self, manifest):
        """Layers of a manifest the server lacks, or None when it cannot tell."""
        if not manifest:
            return None
        wanted = list(manifest.get("layers") or [])
        if manifest.get("config"):
            wanted.append(manifest["config"])
        missing = {"layers": 0, "bytes": 0}
        for layer in wanted:
            digest = layer.get("digest")
            if not digest:
                return None
            exists = self.client.blob_exists(digest)
            if exists is None:
                return None
            if not exists:
                missing["layers"] += 1
                missing["bytes"] += int(layer.get("size") or 0)
        return missing

    def pull(self, name, entry_before, manifest):
        """Pull ``name``; return its /api/tags entry afterwards."""
        planned = self.missing_layers(manifest)
        statuses = []
        try:
            for item in self.client.pull(name.shortest, self.params["insecure"], self.log):
                statuses.append(item.get("status"))
            if not statuses or statuses[-1] != "success":
                raise OllamaStreamError("the pull stream ended before Ollama said 'success'")
        except OllamaStreamError as exc:
            self.fail_after(name, entry_before, "pull", exc.message)
        except (OllamaHTTPError, OllamaProtocolError, OllamaTimeoutError) as exc:
            self.fail_after(name, entry_before, "pull", str(exc))
        after = self.client.tags()
        entry = find_listed(after, name)
        if entry is None:
            raise TaskFailed("Ollama reported success pulling %s, but /api/tags does not list "
                             "it" % name.shortest, status_lines=self.log.kept)
        got = planned if planned is not None else self.log.transferred()
        self.transferred = {"layers": self.transferred["layers"] + got["layers"],
                            "bytes": self.transferred["bytes"] + got["bytes"]}
        if entry_before is None or entry_before.get("digest") != entry.get("digest"):
            self.changed = True
            self.action = "pulled"
        return after, entry

    def fail_after(self, name, entry_before, what, message):
        """Fail a pull or create, saying whether the model is listed now."""
        try:
            # A short wait: the server may be the reason the pull failed.
            models = self.client.tags(timeout=max(self.params["connect_timeout"], 30))
            listed = find_listed(models, name)
        except OllamaError as exc:
            state = "could not ask /api/tags afterwards (%s)" % exc
        else:
            if listed is None:
                state = "%s is not listed on the server" % name.shortest
            elif entry_before is not None and listed.get("digest") == entry_before.get("digest"):
                state = ("the copy from before (digest %s) is still in place"
                         % entry_before.get("digest"))
            else:
                state = ("%s is listed with digest %s; check it"
                         % (name.shortest, listed.get("digest")))
        raise TaskFailed("%s of %s failed: %s; %s" % (what, name.shortest, message, state),
                         changed=self.changed, status_lines=self.log.kept)

    # -- states ---------------------------------------------------------
    def run(self):
        models = self.client.tags()
        entry = find_listed(models, self.name)
        if self.params["state"] == "absent":
            return self.absent(models, entry)
        if self.base is None:
            return self.pulled_model(models, entry)
        return self.derived_model(models, entry)

    def absent(self, models, entry):
        names = model_names(models)
        if entry is None:
            return self.result(models, names, None)
        self.action = "removed"
        listed = entry.get("name") or entry.get("model")
        after = [n for n in names if n != listed]
        if self.check:
            self.changed = True
        else:
            self.client.delete(listed)
            self.changed = True
            if find_listed(self.client.tags(), self.name) is not None:
                raise TaskFailed("Ollama accepted the removal of %s, but /api/tags still lists "
                                 "it" % self.name.shortest, changed=True)
        return self.result(models, after, None)

    def pulled_model(self, models, entry):
        names = model_names(models)
        pull, digest, manifest = self.needs_pull(self.name, entry)
        if not pull:
            return self.result(models, names, entry)
        if self.check:
            self.changed = True
            self.action = "pulled"
            after = names if entry is not None else sorted(names + [self.name.shortest])
            predicted = dict(entry or {}, digest=digest or (entry or {}).get("digest"))
            if entry is None:
                predicted["size"] = None
            return self.result(models, after, predicted)
        after_models, entry = self.pull(self.name, entry, manifest)
        return self.result(models, model_names(after_models), entry)

    def derived_model(self, models, entry):
        names = model_names(models)
        base_entry = find_listed(models, self.base)
        pull, dummy, manifest = self.needs_pull(self.base, base_entry)
        base_pending = pull and self.check
        if base_pending:
            self.changed = True
            self.action = "pulled"
            self.differences.append("base %s would be pulled" % self.base.shortest)
            if base_entry is None:
                names = sorted(names + [self.base.shortest])
        elif pull:
            models_now, base_entry = self.pull(self.base, base_entry, manifest)
            names = model_names(models_now)
        base_show = self.client.show(self.base.shortest) if base_entry is not None else None
        current = self.client.show(self.name.shortest) if entry is not None else None
        if current is None:
            found = ["%s does not exist" % self.name.shortest]
        else:
            found = self.compare(current, base_show)
        self.differences.extend(found)
        if not found and not base_pending:
            return self.result(models, names, entry)
        self.changed = True
        self.action = "created"
        if self.check:
            after = names if entry is not None else sorted(names + [self.name.shortest])
            return self.result(models, after, entry)
        self.create(entry)
        after_models = self.client.tags()
        new_entry = find_listed(after_models, self.name)
        if new_entry is None:
            raise TaskFailed("Ollama reported success creating %s, but /api/tags does not list "
                             "it" % self.name.shortest, status_lines=self.log.kept)
        return self.result(models, model_names(after_models), new_entry)

    def compare(self, current, base_show):
        """What differs between the derived model on the server and the task."""
        found = []
        base_show = base_show or {}
        asked = self.params["parameters"] or {}
        for field in ("system", "template"):
            if not self.params[field] and not base_show:
                continue
            wanted = self.params[field] or base_show.get(field) or ""
            if (current.get(field) or "") != wanted:
                found.append("%s differs" % field)
        wanted = parse_show_parameters(base_show.get("parameters"))
        wanted.update(asked)
        have = parse_show_parameters(current.get("parameters"))
        for key in sorted(set(wanted) | set(have)):
            if not base_show and key not in asked:
                continue
            if canonical(wanted.get(key)) != canonical(have.get(key)):
                found.append("parameters: %s %s -> %s" % (
                    key, show_text(have[key]) if key in have else "(unset)",
                    show_text(wanted[key]) if key in wanted else "(unset)"))
        base_blob = modelfile_blob(base_show)
        have_blob = modelfile_blob(current)
        if base_blob and have_blob:
            if base_blob != have_blob:
                found.append("base model layer %s -> %s" % (have_blob[:12], base_blob[:12]))
        else:
            parent = (current.get("details") or {}).get("parent_model")
            if parent and is_valid_model_name(parent) \
                    and parse_model_name(parent).key != self.base.key:
                found.append("base model %s -> %s" % (parent, self.base.shortest))
        return found

    def create(self, entry_before):
        body = {"model": self.name.shortest, "from": self.base.shortest}
        for field in ("system", "template", "parameters"):
            if self.params[field]:
                body[field] = self.params[field]
        statuses = []
        try:
            for item in self.client.create(body, self.log):
                statuses.append(item.get("status"))
            if not statuses or statuses[-1] != "success":
                raise OllamaStreamError("the create stream ended before Ollama said 'success'")
        except OllamaStreamError as exc:
            self.fail_after(self.name, entry_before, "create", exc.message)
        except (OllamaHTTPError, OllamaProtocolError, OllamaTimeoutError) as exc:
            self.fail_after(self.name, entry_before, "create", str(exc))


def parameters_problem(parameters):
    """What is wrong with the parameters of a derived model, or None."""
    for key, value in sorted((parameters or {}).items(), key=lambda item: str(item[0])):
        values = value if isinstance(value, list) else [value]
        if value is None or value == []:
            return ("parameters.%s has no value: leave it out to keep the base model's, or give "
                    "one (a list needs at least one item)" % key)
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                return "parameters.%s is %s: write a finite number" % (key, item)
            if item is None or not isinstance(item, (str, int, float, bool)):
                return ("parameters.%s holds %r: write text, a number, true or false, or a "
                        "list of those" % (key, item))
    return None


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_by={"system": "from_model", "template": "from_model",
                     "parameters": "from_model"},
    )
    params = module.params
    try:
        name = parse_model_name(params["name"])
        base = parse_model_name(params["from_model"]) if params["from_model"] else None
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if base is not None and base.key == name.key:
        module.fail_json(msg="from_model names the model itself (%s); name a different base"
                         % name.shortest)
    problem = timing_problem(params) or parameters_problem(params["parameters"])
    if problem:
        module.fail_json(msg=problem)
    try:
        base_url = resolve_host(params["host"] or host_from_environment(os.environ))
    except ValueError as exc:
        module.fail_json(msg=str(exc))

    client = OllamaClient(base_url, timeout=params["timeout"],
                          connect_timeout=params["connect_timeout"], retries=params["retries"],
                          retry_delay=params["retry_delay"])
    task = ModelTask(module, client, name, base)
    try:
        result = task.run()
    except OllamaConnectionError as exc:
        module.fail_json(msg="Ollama is not answering at %s: start the service or set host "
                             "(%s, after %d attempts)" % (base_url, exc.reason, client.attempts),
                         changed=task.changed, model=name.shortest, url=base_url)
    except TaskFailed as exc:
        extra = dict(model=name.shortest, changed=task.changed)
        extra.update(exc.extra)
        module.fail_json(msg=exc.msg, **extra)
    except (OllamaError, RegistryError) as exc:
        module.fail_json(msg="%s: %s" % (name.shortest, exc), changed=task.changed,
                         model=name.shortest, status_lines=task.log.kept)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
