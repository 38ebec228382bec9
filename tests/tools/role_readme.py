#!/usr/bin/env python3
"""Write each role's variable reference into its README from meta/argument_specs.yml.

The part between the BEGIN and END markers is generated; the rest of the README
(examples, limitations) is written by hand. With --check, exit 1 when any
README differs from what would be written, so the two cannot drift.
"""

import argparse
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
BEGIN = "<!-- BEGIN generated from meta/argument_specs.yml by tests/tools/role_readme.py -->"
END = "<!-- END generated -->"


def _text(value):
    if isinstance(value, list):
        value = " ".join(value)
    value = re.sub(r"[COVM]\(([^)]*)\)", r"`\1`", str(value))
    return " ".join(value.split())


def _default(option):
    if "default" not in option:
        return "null" if not option.get("required") else "required"
    default = option["default"]
    if default in ({}, [], ""):
        return "`%s`" % ("{}" if default == {} else "[]" if default == [] else '""')
    if isinstance(default, bool):
        return "`%s`" % str(default).lower()
    return "`%s`" % default


def render(role_dir):
    specs = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text())
    lines = [BEGIN, ""]
    for entry, spec in specs["argument_specs"].items():
        if entry != "main":
            lines += ["### Entry point `%s`" % entry, ""]
        lines += [_text(spec.get("description", spec.get("short_description", ""))), ""]
        lines += ["| Variable | Type | Default | Description |", "|---|---|---|---|"]
        for name, option in spec.get("options", {}).items():
            kind = option.get("type", "str")
            if kind == "list" and "elements" in option:
                kind = "list of %s" % option["elements"]
            desc = _text(option.get("description", ""))
            if "choices" in option:
                desc += " Choices: %s." % ", ".join("`%s`" % c for c in option["choices"])
            lines.append("| `%s` | %s | %s | %s |" % (name, kind, _default(option),
                                                      desc.replace("|", "\\|")))
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a README is stale")
    args = parser.parse_args()
    stale = []
    for spec in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        role_dir = spec.parent.parent
        readme = role_dir / "README.md"
        current = readme.read_text() if readme.exists() else ""
        block = render(role_dir)
        if BEGIN in current and END in current:
            head, rest = current.split(BEGIN, 1)
            new = head + block + rest.split(END, 1)[1]
        else:
            new = current.rstrip() + ("\n\n" if current else "# %s\n\n" % role_dir.name)
            new += "## Variables\n\n" + block + "\n"
        if new != current:
            stale.append(str(readme.relative_to(ROOT)))
            if not args.check:
                readme.write_text(new)
    if args.check and stale:
        print("out of date (run make readmes): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
