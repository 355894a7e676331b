"""Progress bars for the stages of a round: on an interactive terminal only, silent in logs and CI."""

from __future__ import annotations


def progress_bar(label: str, total: int | None, unit: str):
    import sys

    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit=unit, disable=not sys.stderr.isatty(), leave=False)
