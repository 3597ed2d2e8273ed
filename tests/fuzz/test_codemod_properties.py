"""Property-based fuzzing of every codemod (bounded for CI; the long run is benchmarks/fuzz_codemods.py).

For every action: nothing raises, the output parses, a second run changes nothing, the original's
comments are kept and the minimal edits reproduce the output exactly (see ``fuzzing.violations``).
Inputs: the dataset's training scripts under mutations a user could have made, generated code
(hypothesmith) spliced into them, and generated programs pushed through every framework's codemods.
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .fuzzing import (
    ACTIONS,
    CST_MUTATIONS,
    FRAMEWORKS_WITH_CODEMODS,
    SCRIPTS,
    apply_like_an_editor,
    comments,
    generated_programs,
    mutate,
    mutated_scripts,
    parses,
    spliced_scripts,
    violations,
)

CI = settings(
    deadline=None,
    derandomize=True,  # the same examples on every CI run; the long run explores
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

warnings.filterwarnings("ignore", module="hypothesmith")


@settings(CI, max_examples=16)
@given(mutated_scripts())
def test_mutated_training_scripts(case):
    source, action_id = case
    assert violations(source, action_id) == []


@settings(CI, max_examples=6)
@given(spliced_scripts())
def test_generated_code_inside_training_scripts(case):
    source, action_id = case
    assert violations(source, action_id) == []


@settings(CI, max_examples=10)
@given(generated_programs(), st.sampled_from(ACTIONS), st.sampled_from(FRAMEWORKS_WITH_CODEMODS))
def test_generated_programs_through_every_codemod(source, action_id, framework):
    assert violations(source, action_id, framework=framework) == []


# -- the fuzzer's own parts can fail: they are checked, not trusted -----------------------------


@pytest.mark.parametrize("name", sorted(CST_MUTATIONS))
def test_each_mutation_changes_some_script_and_keeps_it_parsing(name):
    import random

    changed = 0
    for source in list(SCRIPTS.values())[:12]:
        mutated = mutate(source, [name], random.Random(0))
        assert parses(mutated)
        changed += mutated != source
    assert changed, f"{name} changed none of the scripts"


def test_comment_property_sees_a_lost_comment():
    assert comments("x = 1  # kept\n# dropped\n") - comments("x = 1  # kept\n") == {"# dropped": 1}


def test_editor_applier_counts_utf16_and_lsp_line_ends_only():
    from mlops_lsp.edits import Position, TextEdit

    text = "a = '\U0001f600'\x0c\nb = 1\r\nc = 2\n"
    # line 1 is "b = 1": the form feed does not end a line in LSP
    edit = TextEdit(Position(1, 4), Position(1, 5), "2")
    assert apply_like_an_editor(text, [edit]) == "a = '\U0001f600'\x0c\nb = 2\r\nc = 2\n"
    after_emoji = TextEdit(Position(0, 7), Position(0, 8), '"')  # the emoji is 2 UTF-16 units
    assert apply_like_an_editor(text, [after_emoji]).startswith("a = '\U0001f600\"")
