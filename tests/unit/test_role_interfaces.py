"""Each role's defaults, argument specs and README say the same thing."""

import pathlib

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = pathlib.Path(__file__).resolve().parents[2]
ROLES = sorted(path.parent.parent.name for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


def _load(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return defaults, spec["argument_specs"]["main"]["options"]


def test_there_are_roles():
    assert {"ollama", "ollama_models"} <= set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_specs_name_the_same_variables(role):
    defaults, options = _load(role)
    assert sorted(defaults) == sorted(options)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_pass_the_role_s_own_validation(role):
    defaults, options = _load(role)
    result = ArgumentSpecValidator(options).validate(defaults)
    assert not result.error_messages, result.error_messages


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_equal_defaults_file(role):
    defaults, options = _load(role)
    for name, option in options.items():
        if "default" in option:
            assert option["default"] == defaults[name], name
        else:
            assert defaults[name] is None, name


@pytest.mark.parametrize("role", ROLES)
def test_readme_lists_every_variable(role):
    readme = (ROOT / "roles" / role / "README.md").read_text()
    for name in _load(role)[1]:
        assert "`%s`" % name in readme, name
