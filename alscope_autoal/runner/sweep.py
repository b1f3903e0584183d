"""Run a sweep on the chosen backend: record its manifest, skip finished jobs, dispatch the rest.

Every backend leaves the same folder behind (one result file per finished job, one failure record per failed
job), so a sweep started on one backend can be resumed on another.
"""

from __future__ import annotations

from pathlib import Path

from ..spec import JobSpec
from .backends import BACKENDS
from .claims import Claims, remove_leftovers
from .core import JobQueue
from .options import RunOptions
from .recorder import JobRecorder, Reporter, SilentReporter, SweepOutcome
from .store import remove_stale_temporaries, set_aside_damaged, set_aside_superseded, split_done, write_manifest


def run_sweep(specs: list[JobSpec], out_dir: Path, options: RunOptions = RunOptions(),
              reporter: Reporter | None = None) -> SweepOutcome:
    """Run the jobs of `specs` that have no result in `out_dir` yet, on `options.backend`; failures are recorded,
    not raised. Damaged result files of these jobs are first moved to `jobs/damaged/`, and their results written
    under other settings to `jobs/stale/` (both listed in `outcome.set_aside`)."""
    options.check()
    reporter = reporter or SilentReporter()
    out_dir = Path(out_dir)
    write_manifest(out_dir, specs, options.command, options.settings)
    remove_stale_temporaries(out_dir)
    remove_leftovers(out_dir)
    set_aside = set_aside_damaged(specs, out_dir) + set_aside_superseded(specs, out_dir)
    to_run, done = split_done(specs, out_dir)
    outcome = SweepOutcome(ran=to_run, skipped=done, set_aside=set_aside)
    reporter.sweep_started(to_run, len(done))
    if to_run:
        with Claims(out_dir) as claims:  # each job is run once claimed: other sweeps may share the folder
            queue = JobQueue(to_run, JobRecorder(out_dir, reporter, outcome, claims))
            BACKENDS.get(options.backend).run(queue, options, len(specs))
    return outcome
