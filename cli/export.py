"""`autoal export`: a results folder as one compact Parquet file, and the check that a study file matches the
experiment file beside it (docs/experiments.md, "Published studies")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import user_errors
from .plot import ResultsDir


def export(
    results_dir: ResultsDir,
    out: Annotated[Optional[Path], typer.Option(
        help="The file to write (Parquet). Beside an experiment file of the same name (experiments/NAME.parquet "
        "next to experiments/NAME.toml) it must hold exactly that file's jobs.",
        show_default="RESULTS_DIR.parquet, beside the folder")] = None,
) -> None:
    """Write every job of RESULTS_DIR (rows and footers) into one Parquet file that 'autoal report' and 'autoal
    plot' read like the folder: the compact form a study ships in."""
    from alscope_autoal.errors import UserError
    from alscope_autoal.export import export_folder

    out = out or results_dir.resolve().with_name(results_dir.resolve().name + ".parquet")
    with user_errors():
        if out.is_dir():
            raise UserError(f"--out {out} is a folder; give the file to write, for example {out}.parquet")
        check_study(out, planned_ids(out), lambda: job_ids_in_folder(results_dir), source=results_dir)
        written = export_folder(results_dir, out)
    size = out.stat().st_size
    typer.echo(f"export: {out} ({len(written.footers)} jobs, {len(written.rows)} rows, {size / 1024:.0f} KiB)",
               err=True)


def experiment_beside(study: Path) -> Path | None:
    """The experiment file a study file belongs to: the .toml of the same name in the same folder, if any."""
    candidate = Path(study).with_suffix(".toml")
    return candidate if candidate.is_file() else None


def planned_ids(study: Path) -> tuple[Path, set[str]] | None:
    """(the experiment file beside `study`, the job ids it plans), or None when there is no such file."""
    from alscope_autoal.bench import job_specs

    from .bench import experiment_requests

    experiment = experiment_beside(study)
    if experiment is None:
        return None
    requests = experiment_requests(experiment)
    return experiment, {spec.job_id for request in requests for dataset in request.datasets
                        for spec in job_specs(request, dataset)}


def job_ids_in_folder(results_dir: Path) -> set[str]:
    from alscope_autoal.results import result_files

    return {path.stem for path in result_files(results_dir)}


def check_study(study: Path, planned: tuple[Path, set[str]] | None, held, source: Path | None = None) -> None:
    """Refuse, in one line naming both files, a study whose jobs are not exactly its experiment file's. `held` is
    called only when there is an experiment file to compare with."""
    from alscope_autoal.errors import UserError

    if planned is None:
        return
    experiment, wanted = planned
    have = held()
    missing, extra = wanted - have, have - wanted
    if missing or extra:
        what = source or study
        parts = ([f"{len(missing)} of the {len(wanted)} planned jobs missing"] if missing else []) + (
            [f"{len(extra)} jobs it does not plan"] if extra else [])
        raise UserError(f"{what} does not match {experiment}: {' and '.join(parts)}; run 'autoal bench --config "
                        f"{experiment}' to finish its sweep, then 'autoal export' that folder to {study}")


def check_study_file(path: Path) -> None:
    """`check_study` for a results argument that is an export (report, plot); folders are not checked."""
    from alscope_autoal.export import is_export, read_export

    if Path(path).is_file() and is_export(path):
        check_study(path, planned_ids(path), lambda: set(read_export(path).footers))

