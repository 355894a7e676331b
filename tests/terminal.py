"""Running the CLI with its stderr on a pseudo-terminal, as a user at a terminal sees it (progress bars)."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios


def stderr_on_terminal(argv: list[str], env: dict[str, str], cwd, timeout_s: float = 120) -> tuple[int, str]:
    """The exit code of `argv` and everything it drew on a terminal 160 columns wide (tqdm draws nothing at
    width 0)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    code = proc.wait(timeout_s)
    os.close(leader)
    return code, seen.decode(errors="replace")
