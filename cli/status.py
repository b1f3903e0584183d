"""`autoal status RESULTS_DIR` (how far a sweep got) and the plan that `autoal bench --dry-run` prints."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import user_errors


def status(
    results_dir: Annotated[Path, typer.Argument(help="The --out folder of an 'autoal bench' sweep.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the state of every job as JSON.")] = False,
) -> None:
    """How much of the sweeps in RESULTS_DIR is done, failed and pending, and the commands that finish them."""
    from alscope_autoal.runner import sweep_status

    with user_errors():
        state = sweep_status(results_dir)
    if as_json:
        typer.echo(json.dumps(status_json(state), indent=1))
        return
    print_status(results_dir, state)


def status_json(state) -> dict:
    jobs = [{"job_id": spec.job_id, "label": spec.label, "state": "done"} for spec in state.done]
    jobs += [{"job_id": spec.job_id, "label": spec.label, "state": "failed", "error": record["error"]}
             for spec, record in state.failed]
    jobs += [{"job_id": spec.job_id, "label": spec.label, "state": "pending"} for spec in state.pending]
    return {"done": len(state.done), "failed": len(state.failed), "pending": len(state.pending), "jobs": jobs}


def print_status(results_dir: Path, state) -> None:
    from rich.table import Table

    from .render import stdout

    stdout.print(f"{results_dir}: {state.total} job(s): {len(state.done)} done, {len(state.failed)} failed, "
                 f"{len(state.pending)} pending", highlight=False)
    counts = Counter()
    for name, specs in [("done", state.done), ("failed", [s for s, _ in state.failed]), ("pending", state.pending)]:
        counts.update((group(spec), name) for spec in specs)
    table = Table()
    for column in ["dataset", "setting", "profile", "strategy", "done", "failed", "pending"]:
        table.add_column(column, justify="right" if column in ("done", "failed", "pending") else "left")
    for key in sorted({key for key, _ in counts}):
        table.add_row(*key, *(str(counts[key, name]) for name in ("done", "failed", "pending")))
    if counts:
        stdout.print(table)
    for spec, record in state.failed:
        stdout.print(f"[red]failed[/red] {spec.label} ({spec.job_id}): {record['error']}", highlight=False)
    if state.failed:
        stdout.print(f"rerun the failed jobs: {retry_command(results_dir)}", highlight=False)
    if state.pending:
        hint = "; ".join(state.commands) or "the sweep's 'autoal bench' command with the same --out"
        stdout.print(f"run the pending jobs (finished ones are skipped): {hint}", highlight=False)


def group(spec) -> tuple[str, str, str, str]:
    return spec.dataset, spec.setting, spec.profile, spec.strategy


def retry_command(out: Path, data_dir: Optional[Path] = None) -> str:
    words = ["autoal", "bench", "--out", str(out), "--retry-failed"]
    return shlex.join(words + (["--data-dir", str(data_dir)] if data_dir else []))


def print_plan(out: Path, to_run: list, done: list) -> None:
    """The dry-run answer: every job that would run, and every job already finished."""
    from .render import stdout

    stdout.print(f"plan for {out}: {len(to_run)} job(s) to run, {len(done)} already done", highlight=False)
    for word, specs in [("run ", to_run), ("done", done)]:
        for spec in specs:
            stdout.print(f"  {word}  {spec.job_id}  {spec.label}", highlight=False, soft_wrap=True)
