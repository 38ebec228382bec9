#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, localllm.workstation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: ollama_install_info
short_description: Read, in one pass, how an Ollama installation differs from what is wanted
version_added: 0.1.0
description:
  - Reads the release links, the service's files and folders, the service user and groups,
    the systemd state, the server's logged settings and its API version, and compares each
    with what the caller wants.
  - The ollama role calls it once per run and only runs the tasks whose part differs, so a
    converged host costs one module run instead of one per file.
  - Changes nothing.
options:
  release_dir:
    description: Folder of the wanted release, holding C(bin/ollama) and C(lib/ollama).
    type: path
    required: true
  links:
    description: Links that must point into O(release_dir), as C(path) and C(src) pairs.
    type: list
    elements: dict
    default: []
  files:
    description:
      - Files whose content, owner, group and mode are wanted, as C(path), C(content),
        C(owner), C(group) and C(mode) (an octal string).
    type: list
    elements: dict
    default: []
    no_log: true
  directories:
    description: Folders that must exist with the given C(path), C(owner), C(group), C(mode).
    type: list
    elements: dict
    default: []
  user:
    description: The service user.
    type: str
    required: true
  group:
    description: The service user's primary group.
    type: str
    required: true
  supplementary_groups:
    description: Groups the service user should be in where they exist on the host.
    type: list
    elements: str
    default: []
  traverse:
    description: A folder the service user must be able to reach through its parents.
    type: path
  service:
    description: Name of the systemd service.
    type: str
    default: ollama
  api_url:
    description: Base URL of the server's API, such as C(http://127.0.0.1:11434).
    type: str
  timeout:
    description: Seconds to wait for the API.
    type: int
    default: 5
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - The folder check reads mode bits, owners and groups, not ACLs.
author:
  - localllm.workstation contributors
"""

EXAMPLES = r"""
- name: Read the installation
  localllm.workstation.ollama_install_info:
    release_dir: /usr/local/lib/ollama-releases/0.32.15
    links:
      - {path: /usr/local/bin/ollama, src: bin/ollama}
    files:
      - path: /etc/systemd/system/ollama.service
        content: "{{ lookup('ansible.builtin.template', 'ollama.service.j2') }}"
        owner: root
        group: root
        mode: "0644"
    user: ollama
    group: ollama
    supplementary_groups: [render, video]
    api_url: http://127.0.0.1:11434
  register: install
"""

RETURN = r"""
release_present:
  description: Whether the wanted release's program is unpacked.
  returned: always
  type: bool
links_ok:
  description: Whether every link points into the wanted release.
  returned: always
  type: bool
previous_release:
  description: The release folder the first link pointed into before, or an empty string.
  returned: always
  type: str
files:
  description: Per file path, whether it is as wanted.
  returned: always
  type: dict
directories:
  description: Per folder path, whether it is as wanted.
  returned: always
  type: dict
user_ok:
  description: Whether the user and group exist with the wanted primary and supplementary groups.
  returned: always
  type: bool
existing_groups:
  description: The supplementary groups that exist on the host.
  returned: always
  type: list
  elements: str
blocking:
  description: The first parent of O(traverse) the user cannot enter, or null.
  returned: always
  type: str
blocking_msg:
  description: What blocks the user and what to do about it.
  returned: when blocking is set
  type: str
service:
  description: C(enabled), C(active), C(environment) (dict) and C(logged_config) (dict, the
    settings the server logged at its current start).
  returned: always
  type: dict
api_version:
  description: The version the API reports, or null when it does not answer.
  returned: always
  type: str
"""

import grp
import hashlib
import json
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.localllm.workstation.plugins.module_utils.ollama_settings import (
    parse_server_config,
    parse_systemd_environment,
)
from ansible_collections.localllm.workstation.plugins.module_utils.paths import (
    first_blocking_parent,
)


def _owned_as(st, owner, group, mode):
    try:
        if owner is not None and pwd.getpwuid(st.st_uid).pw_name != owner:
            return False
        if group is not None and grp.getgrgid(st.st_gid).gr_name != group:
            return False
    except KeyError:
        return False
    return mode is None or stat.S_IMODE(st.st_mode) == int(str(mode), 8)


def file_ok(spec):
    path = spec["path"]
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    with open(path, "rb") as handle:
        current = hashlib.sha256(handle.read()).hexdigest()
    wanted = hashlib.sha256(spec.get("content", "").encode("utf-8")).hexdigest()
    return current == wanted and _owned_as(st, spec.get("owner"), spec.get("group"),
                                           spec.get("mode"))


def directory_ok(spec):
    try:
        st = os.lstat(spec["path"])
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and _owned_as(st, spec.get("owner"), spec.get("group"),
                                                  spec.get("mode"))


def user_state(user, group, supplementary):
    existing = sorted(name for name in supplementary if _group_exists(name))
    try:
        entry = pwd.getpwnam(user)
        primary = grp.getgrgid(entry.pw_gid).gr_name
    except KeyError:
        return False, existing
    members = set(name for name in existing if user in grp.getgrnam(name).gr_mem)
    return primary == group and members == set(existing), existing


def _group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def service_state(module, name):
    systemctl = module.get_bin_path("systemctl")
    state = dict(enabled=False, active=False, environment={}, logged_config={})
    if not systemctl:
        return state
    rc, out, dummy = module.run_command(
        [systemctl, "show", "--property=UnitFileState,ActiveState,InvocationID,Environment",
         name])
    props = {}
    for line in out.splitlines():
        key, dummy, value = line.partition("=")
        props[key] = value
    state["enabled"] = props.get("UnitFileState") == "enabled"
    state["active"] = props.get("ActiveState") == "active"
    state["environment"] = parse_systemd_environment(props.get("Environment", ""))
    invocation = props.get("InvocationID", "")
    journalctl = module.get_bin_path("journalctl")
    if state["active"] and invocation and journalctl:
        rc, out, dummy = module.run_command(
            [journalctl, "_SYSTEMD_INVOCATION_ID=%s" % invocation, "--output=cat",
             "--no-pager", "--grep=server config"])
        lines = [line for line in out.splitlines() if 'msg="server config"' in line]
        if rc == 0 and lines:
            try:
                state["logged_config"] = parse_server_config(lines[-1])
            except ValueError:
                pass
    return state


def api_version(url, timeout):
    if not url:
        return None
    try:
        response = open_url(url.rstrip("/") + "/api/version", timeout=timeout,
                            use_proxy=False)
        return json.loads(response.read().decode("utf-8")).get("version")
    except Exception:  # pylint: disable=broad-except
        # Not answering is a state to report here, not an error.
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            release_dir=dict(type="path", required=True),
            links=dict(type="list", elements="dict", default=[]),
            # The drop-in may hold a proxy's credentials.
            files=dict(type="list", elements="dict", default=[], no_log=True),
            directories=dict(type="list", elements="dict", default=[]),
            user=dict(type="str", required=True),
            group=dict(type="str", required=True),
            supplementary_groups=dict(type="list", elements="str", default=[]),
            traverse=dict(type="path"),
            service=dict(type="str", default="ollama"),
            api_url=dict(type="str"),
            timeout=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    params = module.params
    release_dir = params["release_dir"].rstrip("/")

    links_ok = True
    previous = ""
    for index, link in enumerate(params["links"]):
        wanted = "%s/%s" % (release_dir, link["src"])
        current = os.readlink(link["path"]) if os.path.islink(link["path"]) else ""
        if index == 0 and current:
            # <root>/<version>/bin/ollama -> <root>/<version>
            previous = os.path.dirname(os.path.dirname(current))
        links_ok = links_ok and current == wanted

    user_ok, existing = user_state(params["user"], params["group"],
                                   params["supplementary_groups"])
    result = dict(
        changed=False,
        release_present=os.path.isfile(os.path.join(release_dir, "bin", "ollama")),
        links_ok=links_ok,
        previous_release=previous,
        files=dict((spec["path"], file_ok(spec)) for spec in params["files"]),
        directories=dict((spec["path"], directory_ok(spec)) for spec in params["directories"]),
        user_ok=user_ok,
        existing_groups=existing,
        blocking=None,
        service=service_state(module, params["service"]),
        api_version=api_version(params["api_url"], params["timeout"]),
    )
    if params["traverse"]:
        groups = [params["group"]] + existing
        blocking, msg, dummy = first_blocking_parent(params["traverse"], params["user"], groups)
        result["blocking"] = blocking
        if msg:
            result["blocking_msg"] = msg
    module.exit_json(**result)


if __name__ == "__main__":
    main()
