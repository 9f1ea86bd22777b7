"""The publish guard (react_assets/files/guard.py): a refusal leaves no file renamed into place
and no metadata committed, and the guard's absence changes nothing."""

from __future__ import annotations

import pytest
from tiny_world import register_tiny_base

from react_assets.files.atomic import write_json, write_text
from react_assets.files.guard import PublishRefused, check_publish, current_guard, publish_guard


class Switch:
    """A guard that refuses once ``stopped`` is set."""

    def __init__(self) -> None:
        self.stopped: str | None = None
        self.calls = 0

    def __call__(self) -> str | None:
        self.calls += 1
        return self.stopped


def _models(store) -> int:
    return store.read(lambda conn: conn.execute("SELECT count(*) FROM models").fetchone()[0])


def test_a_refused_file_is_never_renamed_into_place(tmp_path) -> None:
    guard = Switch()
    with publish_guard(guard):
        write_text(tmp_path / "kept.txt", "old")
        guard.stopped = "run r1 is CANCELING"
        with pytest.raises(PublishRefused, match=r"kept\.txt: refused, run r1 is CANCELING"):
            write_text(tmp_path / "kept.txt", "new")
        with pytest.raises(PublishRefused):
            write_json(tmp_path / "new.json", {"a": 1})
    assert (tmp_path / "kept.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]  # no temporary file left


def test_a_refused_metadata_write_is_rolled_back(store) -> None:
    guard = Switch()
    guard.stopped = "run r2 is CANCELED"
    with publish_guard(guard), pytest.raises(PublishRefused, match="run r2 is CANCELED"):
        register_tiny_base(store)
    assert guard.calls == 1
    assert _models(store) == 0
    register_tiny_base(store)  # outside the block: no guard
    assert _models(store) == 1


def test_the_guard_holds_in_its_block_only(tmp_path) -> None:
    guard = Switch()
    guard.stopped = "stopped"
    assert current_guard() is None
    with publish_guard(guard):
        assert current_guard() is guard
        with publish_guard(None):
            check_publish("inner")  # a block without a guard publishes
        with pytest.raises(PublishRefused):
            check_publish("outer")
    check_publish("after")
    assert current_guard() is None
