from __future__ import annotations

from transferscout.grid.identity import library_versions, trial_id

CONFIG = {
    "kind": "chain",
    "target": {"task": "food", "fingerprint": "f" * 64, "settings": {"epochs": 2}},
    "source": {"task": "water", "fingerprint": "w" * 64, "settings": {"epochs": 1}},
    "chain": [{"task": "fire", "fingerprint": "x" * 64, "settings": {"epochs": 1}}],
    "seed": 0,
    "versions": {"training_code": "1", "torch": "2.13", "transformers": "5.23"},
}


def test_the_id_ignores_task_names_and_library_versions_only() -> None:
    base = trial_id(CONFIG)
    assert len(base) == 32 and int(base, 16) >= 0
    renamed = {
        **CONFIG,
        "target": {**CONFIG["target"], "task": "meal"},
        "chain": [{**CONFIG["chain"][0], "task": "flames"}],
    }
    upgraded = {**CONFIG, "versions": {"training_code": "1", "torch": "3.0", "transformers": "6"}}
    assert trial_id(renamed) == base and trial_id(upgraded) == base
    for changed in (
        {**CONFIG, "seed": 1},
        {**CONFIG, "versions": {**CONFIG["versions"], "training_code": "2"}},
        {**CONFIG, "chain": [{**CONFIG["chain"][0], "fingerprint": "y" * 64}]},
    ):
        assert trial_id(changed) != base


def test_library_versions_are_what_the_id_leaves_out() -> None:
    assert library_versions(CONFIG) == {"torch": "2.13", "transformers": "5.23"}
    assert library_versions({"kind": "single"}) == {}
