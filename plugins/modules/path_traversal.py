#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, localllm.workstation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: path_traversal
short_description: Check that a user can reach a folder through all of its parents
version_added: 0.1.0
description:
  - Walks every existing parent of O(path) and checks, from the mode bits, owner and group,
    that O(user) may enter it.
  - Works before the user exists, from the groups it will have, so a role can refuse a folder
    before it changes anything.
  - Changes nothing.
options:
  path:
    description: Absolute path of the folder the user must reach.
    type: path
    required: true
  user:
    description: Name of the user; need not exist yet.
    type: str
    required: true
  groups:
    description: Group names the user has or will have, on top of those it already has.
    type: list
    elements: str
    default: []
  fail_on_blocked:
    description: Fail, with a message naming the blocking folder, instead of only reporting it.
    type: bool
    default: true
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
notes:
  - POSIX ACLs and security labels are not read; a folder opened to the user only by an ACL is
    reported as blocking.
author:
  - localllm.workstation contributors
"""

EXAMPLES = r"""
- name: Refuse a models folder the service user could not reach
  localllm.workstation.path_traversal:
    path: /srv/llm/models
    user: ollama
    groups: [ollama, render, video]
"""

RETURN = r"""
traversable:
  description: Whether the user can enter every existing parent of O(path).
  returned: always
  type: bool
blocking:
  description: The first folder the user cannot enter, or null.
  returned: always
  type: str
checked:
  description: The existing folders that were checked, from the root down.
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.localllm.workstation.plugins.module_utils.paths import (
    first_blocking_parent,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            user=dict(type="str", required=True),
            groups=dict(type="list", elements="str", default=[]),
            fail_on_blocked=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    if not os.path.isabs(path):
        module.fail_json(msg="path %r is relative: give an absolute path." % path)
    blocking, msg, checked = first_blocking_parent(path, module.params["user"],
                                                   module.params["groups"])
    result = dict(changed=False, traversable=blocking is None, blocking=blocking,
                  checked=checked)
    if blocking and module.params["fail_on_blocked"]:
        module.fail_json(msg=msg, **result)
    if msg:
        result["msg"] = msg
    module.exit_json(**result)


if __name__ == "__main__":
    main()
