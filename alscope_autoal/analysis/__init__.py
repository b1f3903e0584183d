"""Analysis of result files: aggregates (the one place numbers are computed), comparisons, figures and tables.

Reads only the Parquet schema of `alscope_autoal.results`; never imports models, data or torch, except that
`aggregate.is_single` (the learning curves' best-single reference) reads which strategies are selectors from the
strategy package.
"""
