"""Documentation index: the current API docs of the installed MLOps libraries in LanceDB.

Entry points: :class:`mlops_lsp.docs_index.store.DocsIndex` (build/search) and
:func:`mlops_lsp.docs_index.retrieval.retrieve` (the study's retrieval strategies). Importing this
package is cheap: LanceDB, the embedder and the libraries themselves load on first use, and the
libraries are only ever imported in an extraction subprocess.
"""

SEARCH_MODES = ("vector", "fts", "hybrid")
