"""`autoal list`: the registered datasets, strategies, profiles, encoders or backends, one line each."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import user_errors
from .options import Plugins


class Catalog(str, Enum):
    datasets = "datasets"
    strategies = "strategies"
    profiles = "profiles"
    encoders = "encoders"
    backends = "backends"


def list_(what: Annotated[Catalog, typer.Argument(help="What to list.")],
          data_dir: Annotated[Optional[Path], typer.Option(
              "--data-dir", envvar="AUTOAL_DATA_DIR",
              help="With 'datasets': mark those whose files are under this root.",
              show_default="~/.cache/alscope-autoal/data")] = None,
          plugin: Plugins = None) -> None:
    """List the registered datasets, strategies, profiles, encoders or backends, one line each; strategies say
    where they come from (built-in, an installed distribution's entry point, a --plugin)."""
    from alscope_autoal.plugins import load_plugins
    from alscope_autoal.roles import is_oracle

    from .render import stderr, stdout

    with user_errors():
        load_plugins(plugin)
        registry = catalog(what)
        marks = (availability_marks(registry, data_dir) if what is Catalog.datasets
                 else source_marks(registry) if what is Catalog.strategies else {})
        descriptions = {name: registry.describe(name) for name in registry}  # an entry point's: its docstring
    width = max(len(name) for name in registry)
    oracles = [name for name in registry if what is Catalog.strategies and is_oracle(name)]
    for name in [name for name in registry if name not in oracles] + oracles:  # oracles last, in bold
        stdout.print(f"{name:<{width}}  {marks.get(name, '')}{oracle_mark(descriptions[name], name in oracles)}",
                     style="bold" if name in oracles else None, highlight=False, markup=False, soft_wrap=True)
    if what is Catalog.datasets and marks:
        stderr.print(f"present: the dataset's files are under {data_root(data_dir)} (--data-dir); a missing one needs "
                     "'autoal bench --download' (a network) or its official files there", highlight=False)


def source_marks(registry) -> dict[str, str]:
    """Each strategy's origin ('built-in', 'entry point of DIST', 'plugin FILE'), padded to one width."""
    sources = {name: str(registry.source(name)) for name in registry}
    width = max(len(source) for source in sources.values())
    return {name: f"{source:<{width}}  " for name, source in sources.items()}


def data_root(data_dir: Path | None) -> Path:
    from alscope_autoal.data import default_data_dir

    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def availability_marks(registry, data_dir: Path | None) -> dict[str, str]:
    """Each dataset's 'bundled', 'present' or 'missing' under the data dir, padded to one width."""
    from alscope_autoal.data.presence import availability

    return {name: f"{availability(registry.get(name), data_root(data_dir)):<8} " for name in registry}


def oracle_mark(description: str, oracle: bool) -> str:
    """An oracle's line says so first, whatever its description."""
    return description if not oracle or description.startswith("ORACLE") else f"ORACLE: {description}"


def catalog(what: Catalog):
    if what is Catalog.datasets:
        from alscope_autoal.data import DATASETS
        return DATASETS
    if what is Catalog.strategies:
        from alscope_autoal.strategies import STRATEGIES
        return STRATEGIES
    if what is Catalog.encoders:
        from alscope_autoal.encoders import ENCODERS
        return ENCODERS
    if what is Catalog.backends:
        from alscope_autoal.runner.backends import BACKENDS
        return BACKENDS
    from alscope_autoal.profiles import PROFILES
    return PROFILES
