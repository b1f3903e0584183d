"""`autoal status RESULTS_DIR` (how far a sweep got) and the plan that `autoal bench --dry-run` prints."""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import user_errors
from .options import Plugins


def status(
    results_dir: Annotated[Path, typer.Argument(help="The --out folder of an 'autoal bench' sweep.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the state of every job as JSON.")] = False,
    plugin: Plugins = None,
) -> None:
    """How much of the sweeps in RESULTS_DIR is done, failed and pending, and the commands that finish them.
    With the sweep's plugin files, results of its plugin strategies written under an older file show as stale."""
    from alscope_autoal.plugins import load_plugins
    from alscope_autoal.runner import sweep_status

    with user_errors():
        load_plugins(plugin)
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
    for name in ("damaged", "stale"):
        jobs += [{"job_id": spec.job_id, "label": spec.label, "state": name} for spec in getattr(state, name)]
    jobs += [{"job_id": spec.job_id, "label": spec.label, "state": "running", "host": claim.host, "pid": claim.pid,
              "heartbeat_age_seconds": round(claim.age, 1)} for spec, claim in state.running]
    return {"done": len(state.done), "failed": len(state.failed), "pending": len(state.pending),
            "damaged": len(state.damaged), "stale": len(state.stale), "running": len(state.running),
            "orphaned_claims": [{"job_id": spec.job_id, "host": claim.host, "pid": claim.pid}
                                for spec, claim in state.orphaned],
            "damaged_files": [str(path) for path in state.damaged_files],
            "stale_files": [str(path) for path in state.stale_files], "jobs": jobs}


def states(state) -> list[tuple[str, list]]:
    """(state name, its job specs); "damaged", "stale" and "running" only when some job is in them."""
    named = [("done", state.done), ("failed", [s for s, _ in state.failed]), ("pending", state.pending)]
    named += [(name, getattr(state, name)) for name in ("damaged", "stale") if getattr(state, name)]
    return named + ([("running", [spec for spec, _ in state.running])] if state.running else [])


def print_status(results_dir: Path, state) -> None:
    from rich.table import Table

    from .render import stdout

    named = states(state)
    stdout.print(f"{results_dir}: {state.total} job(s): " + ", ".join(f"{len(specs)} {name}" for name, specs in named),
                 highlight=False)
    counts = Counter()
    for name, specs in named:
        counts.update((group(spec), name) for spec in specs)
    table = Table()
    for column in ["dataset", "setting", "profile", "strategy"]:
        table.add_column(column)
    for name, _ in named:
        table.add_column(name, justify="right")
    for key in sorted({key for key, _ in counts}):
        table.add_row(*key, *(str(counts[key, name]) for name, _ in named))
    if counts:
        stdout.print(table)
    if state.damaged_files:
        print_damage(results_dir, state.damaged_files)
    if state.stale_files:
        stdout.print(f"[yellow]stale[/yellow] {len(state.stale_files)} result file(s) were written under other "
                     "settings than their jobs resolve to now (an edited profile or AutoAL schedule, or written "
                     "before results recorded their settings): not done; the next 'autoal bench' reruns those jobs "
                     f"and moves the old files to {results_dir / 'jobs' / 'stale'}", highlight=False, soft_wrap=True)
    for spec, record in state.failed:
        stdout.print(f"[red]failed[/red] {spec.label} ({spec.job_id}): {record['error']}", highlight=False)
    if state.failed:
        stdout.print(f"rerun the failed jobs: {retry_command(results_dir)}", highlight=False)
    print_claims(state)
    if state.pending or state.damaged or state.stale:
        hint = "; ".join(state.commands) or "the sweep's 'autoal bench' command with the same --out"
        unfinished = ", ".join(name for name, specs in named[2:] if specs and name != "running")
        stdout.print(f"run the {unfinished} jobs (finished ones are skipped): {hint}", highlight=False)


def print_claims(state) -> None:
    """Jobs other sweeps are running now, and claims left by sweeps that are gone."""
    from .render import stdout

    for spec, claim in state.running:
        stdout.print(f"[cyan]running[/cyan] {spec.label} ({spec.job_id}) on {claim.describe()}", highlight=False)
    for spec, claim in state.orphaned:
        stdout.print(f"[yellow]orphaned claim[/yellow] {spec.label} ({spec.job_id}): its sweep on {claim.describe()} "
                     "is gone; the next 'autoal bench' takes the job over", highlight=False, soft_wrap=True)


def print_damage(results_dir: Path, damaged: list) -> None:
    from alscope_autoal.results import damage_message

    from .render import stdout

    hint = ("not done: the next 'autoal bench' that reruns their jobs moves them to "
            f"{results_dir / 'jobs' / 'damaged'} first")
    stdout.print(f"[red]damaged[/red] {damage_message(results_dir, damaged, hint=hint)}", highlight=False,
                 soft_wrap=True)


def group(spec) -> tuple[str, str, str, str]:
    return spec.dataset, spec.setting, spec.profile, spec.strategy


def retry_command(out: Path, data_dir: Optional[Path] = None, plugins: Optional[list[str]] = None) -> str:
    words = ["autoal", "bench", "--out", str(out), "--retry-failed"]
    words += [word for plugin in plugins or () for word in ("--plugin", plugin)]
    return shlex.join(words + (["--data-dir", str(data_dir)] if data_dir else []))


def print_plan(out: Path, to_run: list, done: list) -> None:
    """The dry-run answer: every job that would run, and every job already finished, with its profile and budget."""
    from .render import stdout

    stdout.print(f"plan for {out}: {len(to_run)} job(s) to run, {len(done)} already done", highlight=False)
    for word, specs in [("run ", to_run), ("done", done)]:
        for spec in specs:
            stdout.print(f"  {word}  {spec.job_id}  {spec.label}  [{spec.profile}; {spec.initial} + {spec.rounds} x "
                         f"{spec.query_size}]", highlight=False, soft_wrap=True, markup=False)
