"""Package layout: the repository keeps the design card's folders (server/, codemods/, docs_index/);
installed they form one package, ``mlops_lsp``. Sub-packages are discovered, so adding a folder with
an ``__init__.py`` (e.g. codemods for a new library) needs no change here. Metadata is in pyproject.toml."""

from pathlib import Path

from setuptools import setup

ROOTS = {"mlops_lsp": "server", "mlops_lsp.codemods": "codemods", "mlops_lsp.docs_index": "docs_index"}


def packages() -> list[str]:
    here = Path(__file__).parent
    found = set()
    for name, folder in ROOTS.items():
        for init in (here / folder).rglob("__init__.py"):
            found.add(".".join([name, *init.parent.relative_to(here / folder).parts]))
    return sorted(found)


setup(
    packages=packages(),
    package_dir=ROOTS,
    package_data={"mlops_lsp.bench": ["sandbox/*.py"]},
)
