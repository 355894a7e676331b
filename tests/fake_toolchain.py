"""TEST DOUBLES of elan, lake and lean: shell scripts that log their arguments to a file and leave
behind what the real tools would, where `flywheel lean setup` and `doctor` look for it.

- elan: `--version`; `toolchain install T` creates $ELAN_HOME/toolchains/<T as elan names it>/bin with
  lean and lake doubles, or, offline, prints what elan 1.4.2 prints without network and exits 1.
- lake: `update` clones nothing but writes .lake/packages/mathlib/lean-toolchain; `exe cache get` puts
  Mathlib.olean in place; `build repl` writes the REPL binary as a script that runs `repl`;
  `build lean4checker` writes lean4checker as a script that runs `checker`; `env CMD...` runs CMD; `--version`. `fail` makes one sub-command print a message and exit 7.
- lean: `--version`.
"""

from __future__ import annotations

import shlex
import stat
import sys
from pathlib import Path

# What Debian's elan 1.4.2 prints with no network (stderr), recorded on a machine without internet;
# it also prints a Rust backtrace on stdout, of which two frames are kept.
ELAN_OFFLINE_STDERR = """info: downloading component 'lean'
error: could not download file from 'https://github.com/leanprover/lean4/releases/expanded_assets/$V' to '/tmp/elan_file'
info: caused by: error during download
info: caused by: [6] Couldn't resolve host name (Could not resolve host: github.com)
info: backtrace:"""
ELAN_OFFLINE_STDOUT = """
   0: <unknown>
   1: <unknown>
  10: __libc_start_main_impl
             at ./csu/../csu/libc-start.c:360:3"""


def write_tool(bin_dir: Path, name: str, body: str) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _log(log: Path, name: str) -> str:
    return f'echo "{name} $*" >> {shlex.quote(str(log))}\n'


def fake_lean(bin_dir: Path, log: Path, version: str = "4.26.0") -> Path:
    return write_tool(bin_dir, "lean", _log(log, "lean") +
                      f'[ "$1" = "--version" ] && echo "Lean (version {version}, x86_64-unknown-linux-gnu, fake)"\nexit 0\n')


def fake_lake(bin_dir: Path, log: Path, repl: str = "cat", mathlib_toolchain: str = "leanprover/lean4:v4.26.0",
              fail: str | None = None, version: str = "4.26.0", checker: str = "true") -> Path:
    """repl: the command the built REPL binary runs; checker: the command lean4checker runs.
    fail: 'update', 'exe' or 'build' fails."""
    failing = f'if [ "$1" = "{fail}" ]; then echo "error: {fail} failed: could not resolve host" >&2; exit 7; fi\n' if fail else ""
    body = _log(log, "lake") + failing + f"""case "$1" in
  --version) echo "Lake version 5.0.0-fake (Lean version {version})" ;;
  update) mkdir -p .lake/packages/mathlib && echo "{mathlib_toolchain}" > .lake/packages/mathlib/lean-toolchain
          echo '{{"version": "1.1.0", "packages": []}}' > lake-manifest.json ;;
  exe) mkdir -p .lake/packages/mathlib/.lake/build/lib/lean && : > .lake/packages/mathlib/.lake/build/lib/lean/Mathlib.olean
       echo "Decompressing 7000 file(s)" ;;
  build) if [ "$2" = "lean4checker" ]; then
           mkdir -p .lake/packages/lean4checker/.lake/build/bin
           printf '#!/bin/sh\nexec %s "$@"\n' {shlex.quote(checker)} > .lake/packages/lean4checker/.lake/build/bin/lean4checker
           chmod +x .lake/packages/lean4checker/.lake/build/bin/lean4checker
           echo "Build completed successfully."; exit 0
         fi
         mkdir -p .lake/packages/REPL/.lake/build/bin
         printf '#!/bin/sh\\nexec %s\\n' {shlex.quote(repl)} > .lake/packages/REPL/.lake/build/bin/repl
         chmod +x .lake/packages/REPL/.lake/build/bin/repl
         echo "Build completed successfully." ;;
  env) shift; exec "$@" ;;
esac
"""
    return write_tool(bin_dir, "lake", body)


def fake_elan(bin_dir: Path, log: Path, offline: bool = False) -> Path:
    if offline:
        install = (f"printf '%s\\n' {shlex.quote(ELAN_OFFLINE_STDOUT)}\n"
                   f"printf '%s\\n' {shlex.quote(ELAN_OFFLINE_STDERR)} | sed \"s#\\$V#${{3#*:}}#\" >&2\nexit 1\n")
    else:
        tools = Path(__file__).resolve()
        install = f"""home="${{ELAN_HOME:-$HOME/.elan}}"
dir="$home/toolchains/$(echo "$3" | sed 's#/#--#g; s#:#---#g')/bin"
mkdir -p "$dir"
{shlex.quote(sys.executable)} -c 'import sys; sys.path.insert(0, sys.argv[1]); import fake_toolchain as f; from pathlib import Path; \\
f.fake_lean(Path(sys.argv[2]), Path(sys.argv[3])); f.fake_lake(Path(sys.argv[2]), Path(sys.argv[3]))' \\
  {shlex.quote(str(tools.parent))} "$dir" {shlex.quote(str(log))}
echo "info: installed $3"
"""
    body = _log(log, "elan") + f"""case "$1" in
  --version) echo "elan 4.1.2 (fake)" ;;
  toolchain) {install} ;;
esac
"""
    return write_tool(bin_dir, "elan", body)


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []
