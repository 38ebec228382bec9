# -*- coding: utf-8 -*-
# Copyright: (c) 2026, localllm.workstation contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that check Ollama settings and read what a running server reports."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.localllm.workstation.plugins.module_utils.ollama_settings import (
    SettingError,
    normalise_settings,
    parse_server_config,
    parse_systemd_environment,
    systemd_quote,
)


def ollama_environment(settings, extra=None):
    try:
        return [list(pair) for pair in normalise_settings(dict(settings), extra)]
    except SettingError as exc:
        raise AnsibleFilterError("Invalid Ollama setting: %s" % exc)


def ollama_server_config(log_text):
    """The effective settings from the last ``server config`` line of a log."""
    lines = [line for line in str(log_text).splitlines() if 'msg="server config"' in line]
    if not lines:
        return {}
    try:
        return parse_server_config(lines[-1])
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


def systemd_environment(value):
    """Parse the value of ``systemctl show --property=Environment`` into a dict.

    systemctl separates assignments by spaces and quotes those that hold one.
    """
    return parse_systemd_environment(value)


def ollama_env_mismatches(expected, running):
    """Names whose value in ``running`` differs from the ``expected`` pairs."""
    return [name for name, value in expected if running.get(name) != value]


class FilterModule(object):
    def filters(self):
        return {
            "ollama_environment": ollama_environment,
            "ollama_server_config": ollama_server_config,
            "systemd_quote": systemd_quote,
            "systemd_environment": systemd_environment,
            "ollama_env_mismatches": ollama_env_mismatches,
        }
