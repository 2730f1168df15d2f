"""Keep the Hugging Face libraries from ever reaching for the network.

transferscout loads encoders and data from local folders only.  The Hugging Face libraries
read these switches when they are first imported, so this runs before any such import.
"""

from __future__ import annotations

import os

_SWITCHES = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
}


def enable_offline_mode() -> None:
    """Set the Hugging Face offline switches (an explicit user setting is overridden)."""
    os.environ.update(_SWITCHES)
