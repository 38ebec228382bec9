# -*- coding: utf-8 -*-
# Copyright: (c) 2026, localllm.workstation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a user can reach a folder, judged from mode bits, owners and groups."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import stat


def identity(user, extra_groups=()):
    """The uid (None if the user does not exist yet) and every gid the user has or will have."""
    extra_groups = set(extra_groups)
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


def first_blocking_parent(path, user, extra_groups=()):
    """Return (blocking folder or None, message or None, folders checked).

    Walks the existing parents of ``path`` from the root down. A parent that is
    not a folder blocks too, since ``path`` could not be created under it.
    """
    uid, gids = identity(user, extra_groups)
    parts = os.path.normpath(path).split(os.sep)[1:]
    folders = ["/"] + ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]
    checked = []
    for folder in folders:
        try:
            st = os.stat(folder)
        except FileNotFoundError:
            break
        if not stat.S_ISDIR(st.st_mode):
            return folder, "%s is not a folder, so %s cannot be created under it." % (
                folder, path), checked
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
               % (user, folder, stat.S_IMODE(st.st_mode), owner, path, user, folder, folder))
        return folder, msg, checked
    return None, None, checked
