"""Run a module's main() in-process, the way Ansible hands it its arguments."""

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.common.text.converters import to_bytes


def run_module_main(module, monkeypatch, capsys, args):
    """Run module.main() with args; return (exit code, parsed result)."""
    payload = json.dumps({'ANSIBLE_MODULE_ARGS': args})
    monkeypatch.setattr(basic, '_ANSIBLE_ARGS', to_bytes(payload))
    monkeypatch.setattr(basic, '_ANSIBLE_PROFILE', 'legacy')
    # Warnings are collected process-wide; start each run with none.
    for name in ('_global_warnings', '_global_deprecations'):
        if isinstance(getattr(ansible_warnings, name, None), dict):
            monkeypatch.setattr(ansible_warnings, name, {})
    with pytest.raises(SystemExit) as exit_info:
        module.main()
    out = capsys.readouterr().out
    return exit_info.value.code, json.loads(out.strip().splitlines()[-1])


def warning_texts(result):
    """Warning texts of a result: plain strings before ansible-core 2.19, summaries since."""
    texts = []
    for warning in result.get('warnings', []):
        if isinstance(warning, dict):
            warning = warning.get('event', warning).get('msg', '')
        texts.append(warning)
    return texts


@pytest.fixture
def run(capsys):
    def runner(module, args, check=False, diff=False):
        """Run a module; a diff comes back as lists of names for easy comparison."""
        args = dict(args)
        if check:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args):
            with pytest.raises(SystemExit):
                module.main()
        result = json.loads(capsys.readouterr().out)
        if "diff" in result:
            assert result["diff"].pop("before_header").startswith("models on http://127.0.0.1:")
            assert result["diff"].pop("after_header").startswith("models on http://127.0.0.1:")
            for side in ("before", "after"):
                text = result["diff"][side]
                assert text == "" or text.endswith("\n")
                result["diff"][side] = text.splitlines()
        return result
    return runner
