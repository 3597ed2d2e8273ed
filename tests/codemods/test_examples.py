"""Tests generated from every codemod's own examples (Fixit-style): each EXAMPLE is adapted exactly,
the result validates and adapting it again changes nothing; each DECLINE is declined with its reason."""

from __future__ import annotations

import pytest
from libcst.codemod import CodemodContext, TransformSkip, TransformSuccess, transform_module

from mlops_lsp import validate
from mlops_lsp.actions import registry
from mlops_lsp.codemods import all_codemods

EXAMPLES = [
    pytest.param(codemod, example, id=f"{codemod.__name__}-example-{i}")
    for codemod in all_codemods()
    for i, example in enumerate(codemod.EXAMPLES)
]
DECLINES = [
    pytest.param(codemod, decline, id=f"{codemod.__name__}-decline-{i}")
    for codemod in all_codemods()
    for i, decline in enumerate(codemod.DECLINES)
]


def run(codemod, source: str):
    return transform_module(codemod(CodemodContext()), source)


def test_every_codemod_declares_a_known_action_and_examples():
    assert all_codemods(), "no codemod discovered"
    for codemod in all_codemods():
        assert codemod.ACTION in registry(), codemod
        assert codemod.FRAMEWORKS and set(codemod.FRAMEWORKS) <= set(registry()[codemod.ACTION].frameworks)
        assert codemod.EXAMPLES and codemod.DECLINES, f"{codemod.__name__} needs examples and declines"


@pytest.mark.parametrize(("codemod", "example"), EXAMPLES)
def test_example_is_adapted_exactly(codemod, example):
    result = run(codemod, example.before)
    assert isinstance(result, TransformSuccess), getattr(result, "skip_description", None) or getattr(
        result, "traceback_str", None
    )
    assert result.code == example.after
    assert validate.problems(example.before, result.code) == []


@pytest.mark.parametrize(("codemod", "example"), EXAMPLES)
def test_example_is_idempotent(codemod, example):
    again = run(codemod, example.after)
    assert isinstance(again, TransformSkip) or (isinstance(again, TransformSuccess) and again.code == example.after)


@pytest.mark.parametrize(("codemod", "decline"), DECLINES)
def test_decline_gives_reason(codemod, decline):
    result = run(codemod, decline.source)
    assert isinstance(result, TransformSkip), getattr(result, "code", None)
    assert decline.reason in result.skip_description


@pytest.mark.parametrize(("codemod", "example"), EXAMPLES)
def test_example_keeps_crlf_and_comments(codemod, example):
    before = "# header comment\n" + example.before
    result = run(codemod, before.replace("\n", "\r\n"))
    assert isinstance(result, TransformSuccess)
    assert result.code == ("# header comment\n" + example.after).replace("\n", "\r\n")
