"""alscope-autoal: a benchmarking suite for deep active learning, with AutoAL at its centre."""

__version__ = "0.1.0"
