from __future__ import annotations

import subprocess
import sys

import transferscout


def test_every_public_name_resolves() -> None:
    assert sorted(transferscout.__all__) == sorted(transferscout._EXPORTS)
    for name in transferscout.__all__:
        assert getattr(transferscout, name) is not None, name


def test_importing_the_package_does_not_load_torch() -> None:
    code = "import sys, transferscout; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
