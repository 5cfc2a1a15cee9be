"""The command line's help: every option explained, defaults shown, no markup."""

import argparse

import pytest

from xdepthdif.cli import build_parser


def _parsers():
    stack = [("xdepthdif", build_parser())]
    while stack:
        name, parser = stack.pop()
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack += [(f"{name} {k}", p) for k, p in action.choices.items()]


@pytest.mark.parametrize("name", [n for n, _ in _parsers()])
def test_every_option_is_explained_with_its_default(name):
    parser = dict(_parsers())[name]
    text = parser.format_help()
    assert "``" not in text and "DESIGN" not in text
    for action in parser._actions:
        if action.option_strings and action.dest not in ("help", "version"):
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            if action.default not in (None, False) and action.type is not None:
                assert "(default:" in parser._get_formatter()._get_help_string(action)


def test_defaults_read_as_typed():
    text = dict(_parsers())["xdepthdif reconstruct"].format_help()
    assert "(default: oi)" in text and "(default: 1)" in text
    assert "(default: None)" not in text and "(default: False)" not in text


def test_reconstruct_help_names_the_catalog_form_of_its_inputs():
    parser = dict(_parsers())["xdepthdif reconstruct"]
    helps = {a.dest: a.help for a in parser._actions}
    for dest in ("target", "obs"):
        assert "catalog entry CATALOG/ENTRY?key=value&..." in helps[dest], dest
    assert "sample/synthetic_ocean?months=3&resolution=4" in helps["target"]
    assert "CATALOG/ENTRY?key=value" in " ".join(parser.format_help().split())
