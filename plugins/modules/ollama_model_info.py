#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, localllm.workstation contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: ollama_model_info
short_description: Read what an Ollama server holds and has loaded
version_added: "0.1.0"
description:
  - Reads an Ollama server's version, its local models (C(/api/tags)), the models
    loaded in memory (C(/api/ps)) and, for the models named in O(name), the details
    C(/api/show) gives.
  - Changes nothing.
author:
  - localllm.workstation contributors
options:
  name:
    description:
      - Models to describe with C(/api/show). Each name is checked against Ollama's
        grammar C([host[:port]/][namespace/]model[:tag]) first.
      - A named model the server does not have is listed in RV(missing); the task
        does not fail for it.
    type: list
    elements: str
    default: []
  host:
    description:
      - Address of the Ollama server, read the way Ollama's own client reads
        E(OLLAMA_HOST); V(0.0.0.0) means loopback.
      - When not set, E(OLLAMA_HOST) in the environment of the module on the target
        is used, then V(http://127.0.0.1:11434).
    type: str
  timeout:
    description:
      - Seconds the server may stay silent during one request.
    type: int
    default: 60
  connect_timeout:
    description:
      - Seconds to wait for the server to accept a connection.
    type: int
    default: 10
  retries:
    description:
      - How many more times to try when the server does not accept a connection.
        From 0 to 100.
    type: int
    default: 3
  retry_delay:
    description:
      - Seconds to wait after the first failed connection; doubles after each
        further failure, up to 30 seconds. From 0 to 3600.
    type: float
    default: 2.0
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: Nothing changes, so there is nothing to compare.
notes:
  - No Python package beyond the standard library is needed on the target.
  - RV(show) holds the C(parameters) text of C(/api/show) parsed into a dictionary;
    a key repeated there (such as C(stop)) becomes a list.
seealso:
  - module: localllm.workstation.ollama_model
"""

EXAMPLES = r"""
- name: Read the local Ollama server
  localllm.workstation.ollama_model_info:
  register: __ollama_info

- name: Describe two models on a GPU box
  localllm.workstation.ollama_model_info:
    host: http://gpu-box.example:11434
    name:
      - llama3.2:3b
      - house-assistant
  register: __ollama_info

- name: Show the context length house-assistant was made with
  ansible.builtin.debug:
    msg: "{{ __ollama_info.show['house-assistant:latest'].parameters.num_ctx }}"
  when: "'house-assistant:latest' in __ollama_info.show"
"""

RETURN = r"""
url:
  description: The base URL the module talked to.
  returned: always
  type: str
  sample: http://127.0.0.1:11434
version:
  description: The server's version (C(/api/version)).
  returned: always
  type: str
  sample: 0.32.15
models:
  description: The server's local models as C(/api/tags) lists them.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Name in the short form.
      type: str
      sample: llama3.2:latest
    model:
      description: Same as name.
      type: str
    modified_at:
      description: When the model was last written.
      type: str
    size:
      description: Bytes on disk.
      type: int
    digest:
      description: Hex sha256 of the manifest.
      type: str
    details:
      description: C(format), C(family), C(parameter_size), C(quantization_level) and
        more.
      type: dict
  sample:
    - name: llama3.2:latest
      model: llama3.2:latest
      size: 2019393189
      digest: a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72
      details: {format: gguf, family: llama, parameter_size: 3.2B,
                quantization_level: Q4_K_M}
loaded:
  description: Models loaded in memory as C(/api/ps) lists them, each with
    C(size_vram), the bytes held in GPU memory.
  returned: always
  type: list
  elements: dict
  sample:
    - name: llama3.2:latest
      size: 3400000000
      size_vram: 3400000000
      expires_at: "2026-12-01T10:05:00Z"
show:
  description: For each model of O(name) the server has, keyed by the short form of
    the name C(/api/tags) lists for it (names differing only in case are one model),
    what C(/api/show) gives.
  returned: always
  type: dict
  sample:
    llama3.2:latest:
      details: {format: gguf, family: llama, parameter_size: 3.2B}
      model_info: {general.architecture: llama, llama.block_count: 28}
      parameters: {stop: ["<|eot_id|>"]}
      template: "{{ .Prompt }}"
      system: ""
      capabilities: [completion, tools]
      modified_at: "2026-12-01T10:00:00Z"
      license: ""
missing:
  description: Short names of the models of O(name) the server does not have.
  returned: always
  type: list
  elements: str
  sample: [house-assistant:latest]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.localllm.workstation.plugins.module_utils.model_name import (
    find_listed,
    listed_shortest,
    parse_model_name,
)
from ansible_collections.localllm.workstation.plugins.module_utils.ollama_api import (
    OllamaClient,
    OllamaConnectionError,
    OllamaError,
    host_from_environment,
    parse_show_parameters,
    resolve_host,
    timing_problem,
)

SHOW_FIELDS = ("details", "model_info", "projector_info", "template", "system",
               "capabilities", "modified_at", "license", "modelfile", "remote_model",
               "remote_host")


def describe(shown):
    """The /api/show answer with its parameters text parsed."""
    result = {field: shown.get(field) for field in SHOW_FIELDS if field in shown}
    result["parameters"] = parse_show_parameters(shown.get("parameters"))
    result.setdefault("system", "")
    result.setdefault("template", "")
    result.setdefault("capabilities", [])
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="list", elements="str", default=[]),
            host=dict(type="str"),
            timeout=dict(type="int", default=60),
            connect_timeout=dict(type="int", default=10),
            retries=dict(type="int", default=3),
            retry_delay=dict(type="float", default=2.0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    problem = timing_problem(params)
    if problem:
        module.fail_json(msg=problem)
    names = []
    for text in params["name"]:
        try:
            names.append(parse_model_name(text))
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    try:
        url = resolve_host(params["host"] or host_from_environment(os.environ))
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    client = OllamaClient(url, timeout=params["timeout"],
                          connect_timeout=params["connect_timeout"],
                          retries=params["retries"], retry_delay=params["retry_delay"])
    result = dict(changed=False, url=url, show={}, missing=[])
    try:
        result["version"] = client.version()
        result["models"] = client.tags()
        result["loaded"] = client.ps()
        seen = set()
        for name in names:
            # Ollama compares names without regard to case: one model, one key.
            if name.key in seen:
                continue
            seen.add(name.key)
            shown = client.show(name.shortest)
            if shown is None:
                result["missing"].append(name.shortest)
            else:
                listed = find_listed(result["models"], name)
                result["show"][listed_shortest(listed, name)] = describe(shown)
    except OllamaConnectionError as exc:
        module.fail_json(msg="Ollama is not answering at %s: start the service or set host "
                             "(%s, after %d attempts)" % (url, exc.reason, client.attempts),
                         url=url)
    except OllamaError as exc:
        module.fail_json(msg=str(exc), url=url)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
