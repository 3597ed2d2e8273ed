"""The headless benchmark: replay actions over a dataset, run the adapted scripts, score pass@k."""
