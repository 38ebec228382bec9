"""Every module's DOCUMENTATION says exactly what its argument spec accepts."""

import importlib
import pathlib

import pytest
import yaml

from ansible.module_utils import basic

MODULES = sorted(path.stem for path in (
    pathlib.Path(__file__).resolve().parents[4] / "plugins" / "modules").glob("*.py")
    if path.stem != "__init__")


class _Captured(Exception):
    pass


def _argument_spec(module, monkeypatch):
    captured = {}

    def capture(self, argument_spec, **kwargs):
        captured.update(argument_spec)
        raise _Captured()

    monkeypatch.setattr(basic.AnsibleModule, "__init__", capture)
    with pytest.raises(_Captured):
        module.main()
    return captured


def _compare(documented, spec, where):
    assert sorted(documented) == sorted(spec), where
    for name, rules in spec.items():
        doc = documented[name]
        place = "%s.%s" % (where, name)
        assert doc.get("type", "str") == rules.get("type", "str"), place
        assert doc.get("default") == rules.get("default"), place
        assert doc.get("choices") == rules.get("choices"), place
        assert doc.get("elements") == rules.get("elements"), place
        assert doc.get("aliases") == rules.get("aliases"), place
        assert bool(doc.get("required")) == bool(rules.get("required")), place
        assert bool(doc.get("no_log")) == bool(rules.get("no_log")) or "no_log" not in doc, place
        if "options" in rules:
            _compare(doc.get("suboptions", {}), rules["options"], place)


def test_every_module_is_covered():
    assert {"ollama_model", "ollama_model_info", "gpu_info", "vram_check",
            "ollama_install_info", "path_traversal"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_documentation_equals_argument_spec(name, monkeypatch):
    module = importlib.import_module(
        "ansible_collections.localllm.workstation.plugins.modules.%s" % name)
    docs = yaml.safe_load(module.DOCUMENTATION)
    assert docs["module"] == name
    _compare(docs.get("options", {}), _argument_spec(module, monkeypatch), name)
    assert isinstance(yaml.safe_load(module.RETURN), dict)
    assert isinstance(yaml.safe_load(module.EXAMPLES), list)
