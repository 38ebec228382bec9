"""Fixtures shared by the module tests."""

import json

import pytest

from ansible.module_utils.testing import patch_module_args


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
