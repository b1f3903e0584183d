"""A whole results folder as one compact Parquet file: what a study ships with its experiment file.

A results folder holds one file per job (`results.write_job`): its rows and, in the schema's metadata, its
footer (spec, packages, compute, allocator...). An export concatenates every job's rows and keeps each footer in a
`footer` column (JSON, the same text on every row of a job, stored once per job by Parquet's dictionary encoding).
`autoal report` and `autoal plot` read an export as they read a folder, so a published table can be rendered again
from the file in the repository (docs/experiments.md, "Published studies").

Only a clean folder exports: a damaged result file stops the export, since a study file must hold every job its
sweep finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import UserError
from .results import DamagedResults, damage_message, read_metadata, result_files, write_atomically

EXPORT_KEY = b"alscope_autoal_export"
FOOTER_COLUMN = "footer"
FORMAT = 1


@dataclass(frozen=True)
class Export:
    """What an export holds: every job's rows (without the footer column) and each job's footer by job id."""
    rows: pd.DataFrame
    footers: dict[str, dict[str, Any]]


def export_folder(results_dir: Path, out: Path) -> Export:
    """Write every job of `results_dir` into the single file `out` (replaced atomically) and return what it holds."""
    frames, footers = [], {}
    paths = result_files(results_dir)
    damaged = []
    for path in paths:
        try:
            frame, footer = pq.read_table(path).to_pandas(), read_metadata(path)
        except (OSError, ValueError, KeyError, pa.ArrowException):
            damaged.append(path)
            continue
        if frame.empty:
            damaged.append(path)
            continue
        job_id = str(frame["job_id"].iloc[0])
        footers[job_id] = footer
        frames.append(frame.assign(**{FOOTER_COLUMN: json.dumps(footer, sort_keys=True)}))
    if damaged:
        raise DamagedResults(damage_message(Path(results_dir), damaged, nothing_else=not frames))
    if not frames:
        raise UserError(f"no result files in {results_dir}: run 'autoal bench --out {results_dir}' first")
    rows = pd.concat(frames, ignore_index=True).sort_values(["job_id", "round"], kind="stable", ignore_index=True)
    table = pa.Table.from_pandas(rows, preserve_index=False)
    table = table.replace_schema_metadata({EXPORT_KEY: json.dumps({"format": FORMAT, "jobs": len(frames)})})
    try:
        write_atomically(out, lambda tmp: pq.write_table(table, tmp, compression="zstd", compression_level=19,
                                                         use_dictionary=True))
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}; give --out a file in a folder you can "
                        "write to") from None
    return Export(rows.drop(columns=FOOTER_COLUMN), footers)


def is_export(path: Path) -> bool:
    """Whether `path` is a file written by `export_folder` (a folder never is)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        return EXPORT_KEY in (pq.read_schema(path).metadata or {})
    except (OSError, pa.ArrowException):
        return False


def read_export(path: Path) -> Export:
    """The rows and footers of an export; a file that is not one is a one-line error."""
    path = Path(path)
    if not is_export(path):
        raise UserError(f"{path} is not a results folder or a file written by 'autoal export'; point at a folder "
                        "written by 'autoal bench --out' or at its export")
    frame = pq.read_table(path).to_pandas()
    footers = {str(job): json.loads(text) for job, text in
               frame[["job_id", FOOTER_COLUMN]].drop_duplicates("job_id").itertuples(index=False)}
    return Export(frame.drop(columns=FOOTER_COLUMN), footers)
