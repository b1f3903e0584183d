"""Claims: how sweeps that share a results folder split its jobs instead of repeating them.

Before a sweep runs a job it claims it: `claims/<job id>.json` is created atomically (written under a temporary
name, then hard-linked to its final name, which fails if the name exists; `O_CREAT | O_EXCL` where the file system
has no hard links), holding the owner's host, pid, start time and a random token, and where /proc tells them, the
kernel's boot id, the pid namespace and the process's start time in clock ticks since boot: a pid can be reused,
(pid, start ticks) within one boot cannot. The owner touches the file every `HEARTBEAT_SECONDS` while the job runs
and removes it once the result or failure record is written. Another sweep skips a claimed job and comes back to it
later; the claim is taken over when its owner is gone (`Claim.owner_gone`):
- the owner runs on this kernel in this pid namespace (same boot id and namespace): at once when its pid no longer
  exists or now belongs to a process started at another tick (a restart reused the pid, even our own);
- the owner runs on this host name but its pid cannot be checked from here (another pid namespace: a second
  container with the same host name, or one restarted; another boot): when its heartbeat is older than
  `UNCHECKABLE_SECONDS` (three missed heartbeats), so liveness never rests on a pid we cannot see;
- any other host: when its heartbeat is older than `CLAIM_TIMEOUT_SECONDS` (a lost node, a frozen process; long,
  since the clocks of two hosts may disagree).
Where /proc is missing (macOS, Windows) the claim has no boot id, and a claim of this host name is judged by its pid
alone, as before these fields existed. A claimant that sees the job done (or failed in another sweep since this one
started) once it holds the claim lets it go without running the job.

An empty or half-written claim (a sweep killed between creating and writing it: only possible where the file system
has no hard links) older than `WRITING_GRACE_SECONDS` is the suite's own debris: its owner is gone, so it is taken
over like any dead claim. Every sweep starts by removing the claims whose owner is gone (a killed driver's job may
have been finished by another sweep, or by the driver's orphaned worker, with nobody to take its claim over).

A takeover renames the stale claim to a private name first, so of two sweeps taking over one claim only one
succeeds; a claim renamed by mistake (taken over in between) is linked back at once. Three sweeps racing on one
claim within microseconds could still both run it: the job would run twice, but its result file is still one
whole file, so no row is lost or doubled.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..processes import pid_alive, process_identity
from ..spec import JobSpec

CLAIMS_DIR = "claims"
SUITE = "alscope-autoal"
HEARTBEAT_SECONDS = 30.0  # how often a running job's claim is touched
CLAIM_TIMEOUT_SECONDS = 600.0  # a claim untouched this long is taken over (20 missed heartbeats)
LEFTOVER_SECONDS = 60.0  # a temporary or takeover file lives milliseconds: an older one was left by a killed sweep
WRITING_GRACE_SECONDS = 5.0  # an empty claim younger than this is being written (O_EXCL fallback only)
UNCHECKABLE_SECONDS = 3 * HEARTBEAT_SECONDS  # a same-host claim whose pid we cannot see lives while it beats
SUITE_MARK = '{"suite": "%s"' % SUITE  # how every claim file begins (json.dumps keeps the key order)
DEBRIS_TOKEN = ""  # the token of an empty or half-written claim: it has none


@dataclass(frozen=True)
class Claim:
    """Who holds a job, as read from its claim file; `age` is the seconds since the last heartbeat."""
    job_id: str
    label: str
    host: str
    pid: int
    started: float
    token: str
    age: float
    boot_id: str | None = None  # the owner's kernel, pid namespace and start tick (None where /proc was missing)
    pid_ns: str | None = None
    start_ticks: int | None = None

    @property
    def debris(self) -> bool:
        return self.token == DEBRIS_TOKEN

    def owner_gone(self, timeout: float = CLAIM_TIMEOUT_SECONDS) -> bool:
        """Whether the owner is dead or silent too long (module docstring): checked by pid and start tick where we
        can see its process, else by its heartbeat."""
        if self.debris or self.age > timeout:
            return True
        if self.host != socket.gethostname():
            return False
        here = process_identity(os.getpid())
        if self.boot_id is None or here is None:  # no /proc on one side: the pid alone, as before
            return not pid_alive(self.pid)
        if (self.boot_id, self.pid_ns) != (here.boot_id, here.pid_ns):
            return self.age > UNCHECKABLE_SECONDS
        now = process_identity(self.pid)
        return now is None or now.start_ticks != self.start_ticks

    def describe(self) -> str:
        if self.debris:
            return f"an unknown host (its claim file was left empty or half-written {self.age:.0f} s ago)"
        return f"{self.host} pid {self.pid}, heartbeat {self.age:.0f} s ago"


class ForeignClaim(UserError):
    """A file in claims/ that this suite did not write."""


def claims_dir(out_dir: Path) -> Path:
    return Path(out_dir) / CLAIMS_DIR


def claim_path(out_dir: Path, job_id: str) -> Path:
    return claims_dir(out_dir) / f"{job_id}.json"


def foreign_message(path: Path, why: str) -> str:
    return (f"{path} is not a claim file of {SUITE} ({why}); if no 'autoal bench' is using {path.parent.parent}, "
            "delete it and rerun, or choose another --out")


def read_claim(path: Path) -> Claim | None:
    """The claim at `path`; None when it is gone (released meanwhile) or still being written. A file that is not
    this suite's claim raises `ForeignClaim` naming it."""
    try:
        text, mtime = path.read_text(), path.stat().st_mtime
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ForeignClaim(foreign_message(path, f"unreadable: {exc}")) from None
    age = max(0.0, time.time() - mtime)
    if half_written(text):
        return None if age < WRITING_GRACE_SECONDS else debris_claim(path, age)
    try:
        raw = json.loads(text)
        if raw.get("suite") != SUITE:
            raise ValueError("no suite marker")
        start = raw.get("start_ticks")
        return Claim(raw["job_id"], raw.get("label", ""), raw["host"], int(raw["pid"]), float(raw["started"]),
                     raw["token"], age, raw.get("boot_id"), raw.get("pid_ns"), None if start is None else int(start))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ForeignClaim(foreign_message(path, "not the suite's JSON")) from None


def half_written(text: str) -> bool:
    """Empty, or the start of one of our claims cut short (never valid JSON): a writer was killed, or is writing."""
    if not (SUITE_MARK.startswith(text) or text.startswith(SUITE_MARK)):
        return False
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def debris_claim(path: Path, age: float) -> Claim:
    return Claim(path.stem, "", "", 0, 0.0, DEBRIS_TOKEN, age)


def claim_files(out_dir: Path) -> list[Path]:
    """Claim files under their final names (temporaries and takeovers start with a dot)."""
    return sorted(path for path in claims_dir(out_dir).glob("*.json") if not path.name.startswith("."))


def read_claims(out_dir: Path) -> dict[str, Claim]:
    """Every claim in the folder by job id; a foreign file raises `ForeignClaim` naming it."""
    found = (read_claim(path) for path in claim_files(out_dir))
    return {claim.job_id: claim for claim in found if claim is not None}


def unwritable(path: Path, exc: OSError) -> UserError:
    why = "read-only file system" if exc.errno == errno.EROFS else (exc.strerror or str(exc))
    return UserError(f"cannot write the claim file {path} ({why}): sweeps claim each job in --out before running "
                     "it, so --out must be writable; choose another --out")


class Claims:
    """The claims this process holds in one results folder, kept alive by a heartbeat thread."""

    def __init__(self, out_dir: Path, heartbeat_seconds: float = HEARTBEAT_SECONDS) -> None:
        self.out_dir = Path(out_dir)
        self.heartbeat_seconds = heartbeat_seconds
        self.held: dict[str, Path] = {}
        self.tokens: dict[str, str] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> "Claims":
        read_claims(self.out_dir)  # a foreign file is refused before any job runs
        remove_leftovers(self.out_dir)
        self.thread = threading.Thread(target=self.beat, name="autoal-claim-heartbeat", daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        if self.thread:
            self.thread.join()
        for job_id in list(self.held):
            self.release(job_id)  # abandoned jobs (Ctrl-C, an error) are free for the next sweep at once

    def beat(self) -> None:
        while not self.stopped.wait(self.heartbeat_seconds):
            with self.lock:
                paths = list(self.held.values())
            for path in paths:
                try:
                    os.utime(path)
                except OSError:
                    continue  # released meanwhile

    def record(self, spec: JobSpec, token: str) -> str:
        owner = process_identity(os.getpid())
        identity = {"boot_id": owner.boot_id, "pid_ns": owner.pid_ns, "start_ticks": owner.start_ticks} if owner else {}
        return json.dumps({"suite": SUITE, "job_id": spec.job_id, "label": spec.label, "host": socket.gethostname(),
                           "pid": os.getpid(), "started": time.time(), "token": token, **identity})

    def try_claim(self, spec: JobSpec) -> bool:
        """Claim `spec` for this process: True if it is now ours, False while another live sweep holds it."""
        path = claim_path(self.out_dir, spec.job_id)
        token = uuid.uuid4().hex
        if self.create(path, self.record(spec, token)) or self.take_over(path, spec, token):
            with self.lock:
                self.held[spec.job_id], self.tokens[spec.job_id] = path, token
            return True
        return False

    def create(self, path: Path, text: str) -> bool:
        """Create `path` holding `text` unless it exists: a whole file appears at once, or nothing."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.parent / f".{path.stem}.{uuid.uuid4().hex}.tmp"
            tmp.write_text(text)
        except OSError as exc:
            raise unwritable(path, exc) from None
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError:
            return self.create_exclusive(path, text)  # no hard links on this file system
        finally:
            tmp.unlink(missing_ok=True)

    @staticmethod
    def create_exclusive(path: Path, text: str) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        return True

    def take_over(self, path: Path, spec: JobSpec, token: str) -> bool:
        """Replace a claim whose owner is gone by ours; False if the owner lives (or another sweep was quicker)."""
        return self.remove_dead(path, token) and self.create(path, self.record(spec, token))

    def remove_dead(self, path: Path, token: str) -> bool:
        """Remove the claim at `path` if its owner is gone; True if this call removed it."""
        stale = read_claim(path)
        if stale is None or not stale.owner_gone():
            return False
        moved = path.parent / f".{path.stem}.takeover.{token}"
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            return False  # released or taken over meanwhile
        taken = read_claim(moved)
        if taken is None or taken.token != stale.token:
            self.put_back(moved, path)  # it was a fresh claim that replaced the stale one meanwhile
            return False
        moved.unlink(missing_ok=True)
        return True


    @staticmethod
    def put_back(moved: Path, path: Path) -> None:
        try:
            os.link(moved, path)
        except OSError:
            pass  # a third sweep claimed the job in between: see the module docstring
        moved.unlink(missing_ok=True)

    def release(self, job_id: str) -> None:
        """Give up a claim (the job's result or failure is written, or it was abandoned); only our own file."""
        with self.lock:
            path, token = self.held.pop(job_id, None), self.tokens.pop(job_id, None)
        if path is None:
            return
        try:
            current = read_claim(path)
        except ForeignClaim:
            return
        if current is not None and current.token == token:
            path.unlink(missing_ok=True)


def remove_leftovers(out_dir: Path) -> None:
    """Delete what killed sweeps left in claims/: temporaries, takeover files, and the claims of owners that are
    gone (their jobs may have been finished meanwhile by another sweep, or by the orphaned worker of a killed
    driver, so no takeover would ever remove them), empty or half-written ones included."""
    for path in leftovers(out_dir, older_than=LEFTOVER_SECONDS):
        path.unlink(missing_ok=True)
    for path in claim_files(out_dir):
        try:
            Claims(out_dir).remove_dead(path, uuid.uuid4().hex)
        except ForeignClaim:
            continue  # `read_claims` names it to the user


def leftovers(out_dir: Path, older_than: float) -> list[Path]:
    """Temporary and takeover files in claims/ older than `older_than` seconds (left by killed sweeps)."""
    cutoff = time.time() - older_than
    found = []
    for path in claims_dir(out_dir).glob(".*"):
        try:
            if path.stat().st_mtime < cutoff:
                found.append(path)
        except OSError:
            continue
    return found
