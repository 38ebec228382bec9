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

import grp
import os
import pwd
import stat

from ansible.module_utils.basic import AnsibleModule


def _identity(user, extra_groups):
    try:
        entry = pwd.getpwnam(user)
        uid, gids = entry.pw_uid, {entry.pw_gid}
    except KeyError:
        uid, gids = None, set()
    for group in grp.getgrall():
        if user in group.gr_mem or group.gr_name in extra_groups:
            gids.add(group.gr_gid)
    return uid, gids


def can_enter(st, uid, gids):
    if uid == 0:
        return True
    if uid is not None and st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


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
    uid, gids = _identity(module.params["user"], set(module.params["groups"]))

    parts = os.path.normpath(path).split(os.sep)[1:]
    folders = ["/"] + ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]
    checked = []
    for folder in folders:
        try:
            st = os.stat(folder)
        except FileNotFoundError:
            break
        if not stat.S_ISDIR(st.st_mode):
            module.fail_json(msg="%s is not a folder, so %s cannot be created under it."
                             % (folder, path), traversable=False, blocking=folder,
                             checked=checked)
        checked.append(folder)
        if can_enter(st, uid, gids):
            continue
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = str(st.st_uid)
        msg = ("The user %s cannot enter %s (mode %04o, owner %s), a parent of %s. A service "
               "running as %s would fail with 'permission denied'. Choose a folder outside "
               "%s, or let the user through (chmod o+x %s)."
               % (module.params["user"], folder, stat.S_IMODE(st.st_mode), owner, path,
                  module.params["user"], folder, folder))
        if module.params["fail_on_blocked"]:
            module.fail_json(msg=msg, traversable=False, blocking=folder, checked=checked)
        module.exit_json(changed=False, traversable=False, blocking=folder, checked=checked,
                         msg=msg)
    module.exit_json(changed=False, traversable=True, blocking=None, checked=checked)


if __name__ == "__main__":
    main()
