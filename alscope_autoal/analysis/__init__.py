"""Analysis of result files: aggregates (the one place numbers are computed), comparisons, figures and tables.

Reads only the Parquet schema of `alscope_autoal.results` and the strategies' roles (`alscope_autoal.roles`:
oracles, selectors); never imports models, data or torch.
"""
