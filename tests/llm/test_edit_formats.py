"""Parsing model answers: fences, prose, split imports, truncation, SEARCH/REPLACE."""

from __future__ import annotations

import pytest

from mlops_lsp.edit_formats import AnswerError, apply_search_replace, extract_code, parse_search_replace


def test_code_is_taken_from_the_fence_and_prose_ignored() -> None:
    text = "Here is the code:\n```python\nx = 1\nprint(x)\n```\nThis adds tracking."
    assert extract_code(text) == "x = 1\nprint(x)\n"


def test_import_only_block_is_put_in_front_of_the_main_block() -> None:
    text = "```python\nimport mlflow\n```\nthen\n```python\nx = 1\ny = 2\nprint(x + y)\n```"
    assert extract_code(text) == "import mlflow\nx = 1\ny = 2\nprint(x + y)\n"


def test_bare_code_without_a_fence_is_accepted_when_it_parses() -> None:
    assert extract_code("import os\nprint(os.sep)\n") == "import os\nprint(os.sep)\n"


def test_prose_without_code_asks_for_a_fenced_block() -> None:
    with pytest.raises(AnswerError, match="no ```python code block"):
        extract_code("Sure! Here is the updated code:\n\nfor i in range(3):\n    print(i")


def test_truncated_answer_is_reported_as_cut_off() -> None:
    with pytest.raises(AnswerError, match="cut off"):
        extract_code("```python\nx = 1\n", finish_reason="length")


def test_unclosed_fence_with_incomplete_code_is_rejected() -> None:
    with pytest.raises(AnswerError, match="not closed"):
        extract_code("```python\ndef f(:\n")


def test_search_replace_blocks_apply_exactly_and_tolerate_trailing_spaces() -> None:
    source = "import os\n\nx = 1   \nprint(x)\n"
    answer = ("<<<<<<< SEARCH\nx = 1\nprint(x)\n=======\nx = 2\nprint(x)\n>>>>>>> REPLACE\n"
              "<<<<<<< SEARCH\nimport os\n=======\nimport os\nimport mlflow\n>>>>>>> REPLACE")
    assert apply_search_replace(source, parse_search_replace(answer)) == "import os\nimport mlflow\n\nx = 2\nprint(x)\n"


def test_search_text_not_in_the_file_is_reported() -> None:
    with pytest.raises(AnswerError, match="does not match"):
        apply_search_replace("a = 1\n", parse_search_replace("<<<<<<< SEARCH\nb = 1\n=======\nb = 2\n>>>>>>> REPLACE"))


def test_ambiguous_search_text_is_reported() -> None:
    with pytest.raises(AnswerError, match="more than once"):
        apply_search_replace("a = 1\na = 1\n", parse_search_replace("<<<<<<< SEARCH\na = 1\n=======\na = 2\n>>>>>>> REPLACE"))


def test_no_blocks_is_an_answer_error() -> None:
    with pytest.raises(AnswerError, match="no SEARCH/REPLACE"):
        parse_search_replace("I changed line 3.")
