"""The audit outside the REPL: a proof the REPL called `proved` is `audited` only when fresh Lean processes
it never ran in agree: its module compiles (`lake env lean -o`, or `lean.compiler -o` with LEAN_PATH where
there is no Lake project), lean4checker replays its constants through the kernel, and a trusted module of
ours finds only allowed axioms and the canonical statement's type. A toolchain without lean4checker
(`lean.compiler` set, `lean.checker` not) audits without the replay, and each result says which checks ran."""

from __future__ import annotations

import dataclasses
import enum
import os
import shutil
import signal
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

from flywheel.config import AUDIT_CHECKS, LeanConfig
from flywheel.errors import ConfigError, UnparsableStatement
from flywheel.hashing import sha256_text
from flywheel.lean.audit import modules as mods
from flywheel.lean.guard import soundness
from flywheel.lean.toolchain.setup import lean4checker_binary, reason
from flywheel.lean.toolchain.paths import find_tool, project_dir

# Importing Mathlib costs a module seconds before its first theorem; added to every compile's timeout.
IMPORT_S = 120.0


class AuditStatus(enum.Enum):
    AUDITED = "audited"
    REFUSED = "refused"
    UNAUDITED = "unaudited"  # no verdict: a tool was missing, timed out or crashed; the proof waits (stored NULL)


class Refusal(enum.Enum):
    TOOLCHAIN = "toolchain"  # no lean4checker or lake: nothing can be audited
    GUARD = "guard"  # the soundness guard of today refuses what the REPL checked earlier
    COMPILE = "compile"  # its module does not compile on its own
    KERNEL = "kernel"  # lean4checker's replay rejects its module
    STATEMENT = "statement"  # the canonical statement does not elaborate on its own
    AXIOMS = "axioms"
    TYPE = "type"  # the proved type is not the canonical statement's
    UNCONFIRMED = "unconfirmed"  # no positive answer came back
    TIMEOUT = "timeout"
    CRASH = "crash"  # a tool died by a signal or could not be started


# Faults of the tools, not of the proof: the proof stays unaudited and a later audit takes it up.
NOT_VERDICTS = frozenset({Refusal.TOOLCHAIN, Refusal.TIMEOUT, Refusal.CRASH})


@dataclasses.dataclass(slots=True, frozen=True)
class AuditInput:
    id: str
    header: str
    preamble: str
    statement: str  # the canonical statement as we render it (`theorem n binders : type`)
    proof: str  # the body after `:=`, exactly as stored


@dataclasses.dataclass(slots=True)
class AuditResult:
    id: str
    status: AuditStatus
    refusal: Refusal | None = None
    detail: str = ""
    checks: tuple[str, ...] = ()  # an audited proof: the checks (AUDIT_CHECKS) it passed, in their order

    @property
    def reason(self) -> str | None:
        return None if self.refusal is None else f"{self.refusal.value}: {self.detail}"


@dataclasses.dataclass(slots=True)
class Outcome:
    ok: bool
    detail: str = ""
    output: str = ""
    timed_out: bool = False
    crashed: bool = False  # the tool died by a signal (OOM killer, segfault) or could not start
    culprits: set[int] = dataclasses.field(default_factory=set)  # which members the errors point at


@dataclasses.dataclass(slots=True, frozen=True)
class Tools:
    """The commands the audit runs: the compiler (`lean`), the kernel replay (None: lean4checker is not there,
    so the replay is not run), where they run and the LEAN_PATH under the workspace's own modules."""
    compiler: tuple[str, ...]
    replay: tuple[str, ...] | None
    cwd: Path | None  # the Lake project; None: a plain `lean` on LEAN_PATH, run in the workspace
    checks: tuple[str, ...]  # what an audit with these tools checks (AUDIT_CHECKS, less the replay without it)


def _split(value: str, field: str) -> tuple[str, ...]:
    import shlex

    try:
        argv = tuple(shlex.split(value))
    except ValueError as e:
        raise ConfigError(f"lean.{field}: cannot split {value!r}: {e}") from e
    if not argv:
        raise ConfigError(f"lean.{field}: empty command")
    return argv


def tools(cfg: LeanConfig) -> Tools:
    """`lake env lean` and `lake env lean4checker` in the Lake project; else `lean.compiler` and `lean.checker`."""
    if cfg.compiler is not None and cfg.compiler.strip():
        replay = _split(cfg.checker, "checker") if cfg.checker is not None and cfg.checker.strip() else None
        checks = AUDIT_CHECKS if replay else tuple(c for c in AUDIT_CHECKS if c != "replay")
        return Tools(_split(cfg.compiler, "compiler"), replay, None, checks)
    lake = find_tool("lake") or "lake"
    return Tools((lake, "env", "lean"), (lake, "env", str(lean4checker_binary(cfg))), project_dir(cfg), AUDIT_CHECKS)


def audit_toolchain(cfg: LeanConfig) -> str:
    """What audited: the Lean that compiled (`lake env lean` in the project, or lean.compiler), the revisions
    the project's manifest pins, and the checks that ran."""
    import re

    from flywheel.lean.repl.identity import manifest_revs

    t = tools(cfg)
    try:
        out = run([*t.compiler, "--version"], t.cwd or Path.cwd(), dict(os.environ), 120.0)
    except OSError:  # no lake, or no project: the audit refused everything anyway
        out = Outcome(False)
    version = re.search(r"version ([^,\s)]+)", out.output) if out.ok else None
    revs = manifest_revs(t.cwd / "lake-manifest.json") if t.cwd is not None else {}
    checker = revs.get("lean4checker", "none") if t.cwd is not None else (Path(t.replay[0]).name if t.replay else "none")
    return (f"lean={version.group(1) if version else 'unknown'};mathlib={revs.get('mathlib', 'none')};"
            f"lean4checker={checker};checks={','.join(t.checks)}")


def missing_tools(cfg: LeanConfig) -> str | None:
    """Why nothing can be audited with this toolchain, or None."""
    t = tools(cfg)
    if t.cwd is None:  # lean.compiler: a command like the REPL's, found on PATH or by its path
        missing = [argv[0] for argv in (t.compiler, t.replay) if argv and shutil.which(argv[0]) is None]
        return f"{missing[0]} not found (lean.compiler / lean.checker)" if missing else None
    if find_tool("lake") is None:
        return "lake not found (run `flywheel lean setup`)"
    if not lean4checker_binary(cfg).is_file():
        return f"lean4checker not built at {lean4checker_binary(cfg)} (run `flywheel lean setup`)"
    if not (project_dir(cfg) / "lakefile.toml").is_file():
        return f"no Lake project at {project_dir(cfg)} (run `flywheel lean setup`)"
    return None


def run(argv: list[str], cwd: Path, env: dict, timeout_s: float) -> Outcome:
    """One tool to completion in its own process group, killed whole on timeout."""
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
    except OSError as e:  # the tool vanished since missing_tools looked
        return Outcome(False, f"{argv[0]} could not start: {e}", crashed=True)
    try:
        out, _ = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return Outcome(False, f"no result within {timeout_s:g} s (killed)", out, timed_out=True)
    if proc.returncode < 0:
        return Outcome(False, f"{Path(argv[0]).name} died by signal {-proc.returncode}", out, crashed=True)
    if proc.returncode != 0:
        return Outcome(False, reason(out, "", lines=4) or f"exit status {proc.returncode}", out)
    return Outcome(True, "", out)


class Workspace:
    """A temporary directory of modules under the Lake project, on LEAN_PATH for every tool run here."""

    def __init__(self, cfg: LeanConfig, timeout_s: float, import_s: float = IMPORT_S):
        self.cfg, self.timeout_s, self.import_s = cfg, timeout_s, import_s
        self.tools = tools(cfg)
        if self.tools.cwd is not None:
            scratch = self.tools.cwd / ".lake" / "flywheel-audit"
            scratch.mkdir(parents=True, exist_ok=True)
            self.root = Path(tempfile.mkdtemp(dir=scratch))
        else:
            self.root = Path(tempfile.mkdtemp(prefix="flywheel-audit-"))
        self.cwd = self.tools.cwd or self.root
        self.env = dict(os.environ, LEAN_PATH=os.pathsep.join(filter(None, [str(self.root), os.environ.get("LEAN_PATH")])))
        self.compiles = 0

    def __enter__(self) -> "Workspace":
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def compile(self, name: str, text: str, n: int, olean: bool = True) -> Outcome:
        path = self.root.joinpath(*name.split("."))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".lean").write_text(text, encoding="utf-8")
        argv = [*self.tools.compiler, "-R", str(self.root)]
        argv += ["-o", str(path.with_suffix(".olean"))] if olean else []
        self.compiles += 1
        outcome = run(argv + [str(path.with_suffix(".lean"))], self.cwd, self.env, self.timeout_s * max(n, 1) + self.import_s)
        outcome.detail = outcome.detail.replace(str(self.root) + os.sep, "")  # our temp dir says nothing
        return outcome

    def replay(self, name: str, n: int) -> Outcome:
        """lean4checker on the module; passed (and not among the checks recorded) where it is not there."""
        if self.tools.replay is None:
            return Outcome(True)
        return run([*self.tools.replay, name], self.cwd, self.env, self.timeout_s * max(n, 1) + self.import_s)


def target_of(p: AuditInput, policy: soundness.Policy) -> mods.Target | AuditResult:
    """The proof under a fresh name with its challenge, or the guard's refusal."""
    from flywheel.lean.text import statements as surgery
    from flywheel.lean.text.preamble import preamble_commands

    header, preamble = soundness.with_header_definitions(p.header, p.preamble)  # ProofNet's headers define things
    header = soundness.limit_heartbeats(header, policy)
    why = (soundness.scan_header(header, policy) or soundness.scan_statement(p.statement + " := sorry", policy)
           or soundness.scan_proof(p.proof, policy))
    if why:
        return AuditResult(p.id, AuditStatus.REFUSED, Refusal.GUARD, why)
    try:
        thm = dataclasses.replace(surgery.parse_theorem(p.statement + " := sorry"), prefix="")
    except UnparsableStatement as e:
        return AuditResult(p.id, AuditStatus.REFUSED, Refusal.GUARD, f"statement does not parse: {e}")
    checked = preamble_commands(preamble, policy, thm.name)  # the preamble as the verifier sent it
    if checked.reason:
        return AuditResult(p.id, AuditStatus.REFUSED, Refusal.GUARD, checked.reason)
    suffix = sha256_text(p.id, p.header, p.preamble, p.statement, p.proof)[:20]
    proof_name, challenge_name = f"flywheel_audit_{suffix}", f"flywheel_challenge_{suffix}"
    return mods.Target(p.id, header, checked.text, "\n\n".join(checked.scoping), proof_name, challenge_name,
                       surgery.render(surgery.with_name(thm, proof_name), soundness.wrap_proof(p.proof)),
                       surgery.render(surgery.with_name(thm, challenge_name), "sorry"))


Accept = Callable[[list[mods.Target]], tuple[str, Outcome, Refusal]]


def bisect(targets: list[mods.Target], accept: Accept) -> tuple[list[tuple[str, list[mods.Target]]], list[AuditResult]]:
    """Modules that passed (name, members), and a refusal for each target that failed alone: a failing
    module is split, so one bad proof costs its good neighbours nothing. Where the errors point at some
    members, those are tried alone and the rest together (2 + k compiles for k bad ones); else in halves."""
    if not targets:
        return [], []
    name, outcome, refusal = accept(targets)
    if outcome.ok:
        return [(name, targets)], []
    if len(targets) == 1:
        why = _fault(outcome) or refusal
        return [], [AuditResult(targets[0].id, AuditStatus.REFUSED, why, outcome.detail)]
    if outcome.culprits and len(outcome.culprits) < len(targets):
        parts = [[t for i, t in enumerate(targets) if i not in outcome.culprits]]
        parts += [[targets[i]] for i in sorted(outcome.culprits)]
    else:
        parts = [targets[:len(targets) // 2], targets[len(targets) // 2:]]
    good, bad = [], []
    for part in parts:
        g, b = bisect(part, accept)
        good, bad = good + g, bad + b
    return good, bad


def _fault(outcome: Outcome) -> Refusal | None:
    return Refusal.TIMEOUT if outcome.timed_out else Refusal.CRASH if outcome.crashed else None


def audit_chunk(ws: Workspace, targets: list[mods.Target], policy: soundness.Policy) -> list[AuditResult]:
    """Targets sharing header and preamble: base, proofs (compile + kernel replay), challenges, trusted check."""
    refused = lambda t, r, d: AuditResult(t.id, AuditStatus.REFUSED, r, d)  # noqa: E731
    base = mods.base_module(targets[0])
    if base is not None:
        # the preamble's module is replayed through the kernel too: proofs and challenge share it, so a
        # definition the kernel would refuse there could make both sides agree on anything
        outcome = ws.compile(base[0], base[1], 1)
        if not outcome.ok:
            return [refused(t, _fault(outcome) or Refusal.STATEMENT, f"the preamble does not compile: {outcome.detail}")
                    for t in targets]
        outcome = ws.replay(base[0], 1)
        if not outcome.ok:
            return [refused(t, _fault(outcome) or Refusal.KERNEL, f"the preamble's module fails the kernel replay: "
                            f"{outcome.detail}") for t in targets]

    def proofs(group: list[mods.Target]) -> tuple[str, Outcome, Refusal]:
        name, text = mods.proof_module(group)
        outcome = ws.compile(name, text, len(group))
        if not outcome.ok:
            outcome.culprits = mods.culprits(text, group, outcome.output)
            return name, outcome, Refusal.COMPILE
        return name, ws.replay(name, len(group)), Refusal.KERNEL

    def challenges(group: list[mods.Target]) -> tuple[str, Outcome, Refusal]:
        name, text = mods.challenge_module(group)
        return name, ws.compile(name, text, len(group)), Refusal.STATEMENT

    proof_mods, out = bisect(targets, proofs)
    passed = [t for _, members in proof_mods for t in members]
    challenge_mods, bad = bisect(passed, challenges)
    out += bad
    checked = [t for _, members in challenge_mods for t in members]
    if not checked:
        return out
    modules = [name for name, _ in proof_mods + challenge_mods]
    trusted = mods.trusted_module(targets[0].header, modules, checked)
    answer = ws.compile(mods.module_name("Trusted", trusted), trusted, len(checked), olean=False)
    for t in checked:
        if not answer.ok:
            out.append(refused(t, _fault(answer) or Refusal.UNCONFIRMED,
                               f"the trusted module failed: {answer.detail}"))
            continue
        what, detail = mods.read_answer(answer.output, t, policy)
        out.append(AuditResult(t.id, AuditStatus.AUDITED, None, detail, ws.tools.checks) if what is None
                   else refused(t, Refusal(what), detail))
    return out


def audit(proofs: Sequence[AuditInput], cfg: LeanConfig, workers: int = 1, per_module: int = 32,
          import_s: float = IMPORT_S) -> list[AuditResult]:
    """One result per proof, in input order. Anything not positively confirmed is refused, except where the
    tools failed (NOT_VERDICTS): that proof stays unaudited, with the reason."""
    policy = soundness.Policy.from_config(cfg)
    missing = missing_tools(cfg)
    if missing:
        return [AuditResult(p.id, AuditStatus.UNAUDITED, Refusal.TOOLCHAIN, missing) for p in proofs]
    results: dict[str, AuditResult] = {}
    groups: dict[tuple[str, str], list[mods.Target]] = {}
    for p in proofs:
        t = target_of(p, policy)
        if isinstance(t, AuditResult):
            results[p.id] = t
        else:
            groups.setdefault((t.header, t.preamble), []).append(t)
    chunks = [g[i:i + per_module] for g in groups.values() for i in range(0, len(g), per_module)]
    with Workspace(cfg, cfg.timeout_s, import_s) as ws:
        if workers <= 1 or len(chunks) <= 1:
            done = [audit_chunk(ws, c, policy) for c in chunks]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="audit") as pool:
                done = list(pool.map(lambda c: audit_chunk(ws, c, policy), chunks))
    for r in (r for rs in done for r in rs):
        if r.refusal in NOT_VERDICTS:
            r.status = AuditStatus.UNAUDITED
        results[r.id] = r
    return [results.get(p.id) or AuditResult(p.id, AuditStatus.REFUSED, Refusal.UNCONFIRMED, "no answer")
            for p in proofs]
