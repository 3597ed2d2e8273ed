"""mlops-lsp: adapt ML training code to MLOps libraries from the editor's quick-fix menu."""

__version__ = "0.1.0"
