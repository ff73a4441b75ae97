"""Benchmarks behind ``ponder bench``: ratios measured side by side in one run."""
