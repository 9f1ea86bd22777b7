"""A caller's veto over what the library publishes: consulted right before a file is renamed
into place (:func:`react_assets.files.atomic.atomic_path`, a landed shard's move) and right
before a metadata transaction commits (:meth:`react_assets.metadata.Store.write`).

The orchestrator installs a guard around a step (``with publish_guard(guard): ...``): a callable
that returns why nothing may be published any more (its run was canceled, say), or None. Once it
answers, the next publish raises :class:`PublishRefused`: the temporary file is removed, the
transaction rolled back, and the step ends there. The guard holds in the thread that installed
it; the training processes the library starts (:mod:`react_assets.customize.concurrent`,
:mod:`react_assets.customize.launch`) are handed it (it must then be picklable). Without a guard
every publish goes ahead.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar

# Why publishing must stop now, or None while it may go on.
Guard = Callable[[], "str | None"]

_current: ContextVar[Guard | None] = ContextVar("react_publish_guard", default=None)


class PublishRefused(RuntimeError):
    """A file or metadata write refused by the guard installed with :func:`publish_guard`."""


@contextlib.contextmanager
def publish_guard(guard: Guard | None) -> Iterator[None]:
    """Consult ``guard`` before every publish made in this block (None: no guard)."""
    token = _current.set(guard)
    try:
        yield
    finally:
        _current.reset(token)


def current_guard() -> Guard | None:
    """The guard in force here, to hand to a process this one starts."""
    return _current.get()


def check_publish(what: str) -> None:
    """Raise :class:`PublishRefused` naming ``what`` when the guard in force refuses."""
    guard = _current.get()
    if guard is None:
        return
    reason = guard()
    if reason:
        raise PublishRefused(f"{what}: refused, {reason}")
