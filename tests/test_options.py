from mlops_lsp.options import Options, from_pyproject, merge


def test_defaults():
    options = Options()
    assert options.strategy == "auto" and options.model is None and options.retrieval == "docprompt"


def test_merge_valid_and_camel_case():
    options, problems = merge(Options(), {"strategy": "codemod", "repairRounds": 4, "temperature": 1}, "test")
    assert problems == []
    assert options.strategy == "codemod" and options.repair_rounds == 4 and options.temperature == 1.0


def test_invalid_values_keep_defaults_with_one_line_each():
    options, problems = merge(Options(), {"strategy": "magic", "seed": "x", "bogus": 1, "model": ""}, "test")
    assert options.strategy == "auto" and options.seed == 0 and options.model is None
    assert len(problems) == 3 and all("\n" not in p for p in problems)


def test_not_an_object():
    options, problems = merge(Options(), ["strategy"], "initializationOptions")
    assert options == Options() and "must be an object" in problems[0]


def test_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.mlops-lsp]\nstrategy = "llm"\nmodel = "openai:gpt-4o-mini"\n')
    options, problems = from_pyproject(tmp_path, Options())
    assert problems == [] and options.strategy == "llm" and options.model == "openai:gpt-4o-mini"
    (tmp_path / "pyproject.toml").write_text("[tool.mlops-lsp\n")
    options, problems = from_pyproject(tmp_path, Options())
    assert options == Options() and "cannot read" in problems[0]
