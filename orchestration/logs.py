"""Structured logs: one JSON object a line in a file per run, beside the usual stderr logging."""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path
from typing import Iterator


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


@contextlib.contextmanager
def run_log(path: Path) -> Iterator[Path]:
    """Everything at INFO and above from flywheel's packages goes to `path` while the block runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A message may quote a model's text: a lone surrogate in it is written escaped, not lost with the record.
    handler = logging.FileHandler(path, encoding="utf-8", errors="backslashreplace")
    handler.setFormatter(JsonLines())
    handler.setLevel(logging.INFO)
    loggers = [logging.getLogger(n) for n in ("orchestration", "prover_loop", "filters", "autoformalize", "db", "flywheel")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        if lg.level == logging.NOTSET or lg.level > logging.INFO:
            lg.setLevel(logging.INFO)
    try:
        yield path
    finally:
        for lg, level in zip(loggers, old):
            lg.removeHandler(handler)
            lg.setLevel(level)
        handler.close()
