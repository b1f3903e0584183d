"""Analysis of result files: aggregates (the one place numbers are computed), comparisons, figures and tables.

Reads only the Parquet schema of `alscope_autoal.results`; never imports models, data or torch.
"""
