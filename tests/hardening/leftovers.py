"""What a refused or failed cell may leave behind, read from the real places it would be."""

from __future__ import annotations

import os
from pathlib import Path


def run_folders(home: Path) -> list[Path]:
    """Run folders recorded under FAIRING_HOME (``runs/<run>/``)."""
    folder = Path(home) / "runs"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes (not zombies) that mention ``text``, e.g. a run folder."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                       .decode(errors="replace"))
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(f"{pid}: {cmdline}")
    return found
