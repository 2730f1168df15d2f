"""A trial's id: a hash of what determines its result by design.

A trial's stored configuration (``TrialSpec.config``) records everything about it, including
the installed versions of torch and transformers; its id hashes that configuration without
the task names (data fingerprints identify the tasks) and without the library versions, so a
library upgrade keeps every finished trial (``grid/runner.py`` says so, and can train them
again).  ``training_code`` (``grid.spec.TRAINING_CODE_VERSION``) stays in the id: it is bumped
exactly when a change of the training code changes results.

This module imports nothing of the project: the store computes ids of stored configurations
with it when it upgrades an old store or imports old tables (schema 6), and ``TrialSpec.id`` is
the same function of a planned trial's configuration.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["IDENTITY_VERSIONS", "library_versions", "trial_id"]

#: The entries of a configuration's ``versions`` that are part of a trial's identity.
IDENTITY_VERSIONS = ("training_code",)


def trial_id(config: dict[str, Any]) -> str:
    """A stable 32-hex-digit hash of a trial configuration (``TrialSpec.config``).

    Task names and library versions are left out: the data decides, and the libraries are
    recorded with the result, not part of what the trial is.
    """
    identity = dict(config)
    for stage in ("target", "source"):
        if identity.get(stage) is not None:
            identity[stage] = _without_task(identity[stage])
    if "chain" in identity:
        identity["chain"] = [_without_task(stage) for stage in identity["chain"]]
    versions = identity.get("versions") or {}
    identity["versions"] = {k: v for k, v in versions.items() if k in IDENTITY_VERSIONS}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def library_versions(config: dict[str, Any]) -> dict[str, str]:
    """The library versions a configuration records (those not part of the trial's id)."""
    versions = config.get("versions") or {}
    return {str(k): str(v) for k, v in versions.items() if k not in IDENTITY_VERSIONS}


def _without_task(stage: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stage.items() if k != "task"}
