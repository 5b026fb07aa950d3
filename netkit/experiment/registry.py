"""Apps by name, loaded lazily: `register_app("name", "package.module:Class")`, or a `netkit.apps` entry point.

Nothing here imports an app module until an experiment names it, so importing
the experiment layer stays light (no torch, no transformers).
"""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from netkit.errors import UserError

_APPS: dict[str, str] = {
    "bulk": "netkit.apps.workloads:BulkApp",
    "cbr": "netkit.apps.workloads:CbrApp",
    "tokenstream": "netkit.apps.tokenstream.app:TokenStreamApp",
    "kvstream": "netkit.apps.kvstream.app:KVStreamApp",
    "swiftqueue": "netkit.apps.swiftqueue.app:SwiftQueueApp",
    "swiftqueue-onoff": "netkit.apps.swiftqueue.onoff:OnOffApp",
    "sfu": "netkit.apps.sfu.app:SfuApp",
    "grace": "netkit.apps.grace.app:GraceApp",
}
ENTRY_POINT_GROUP = "netkit.apps"


def register_app(name: str, target: str) -> None:
    """Make `target` (`module:Class`, an `App` subclass) available as `module = "name"` in experiments."""
    _APPS[name] = target


def app_names() -> list[str]:
    """Every registered app name (built in, registered, and from `netkit.apps` entry points)."""
    names = dict(_APPS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        names.setdefault(ep.name, ep.value)
    return sorted(names)


def get_app(name: str, key: str = "module"):
    """The `App` class registered as `name`; UserError naming `key` when there is none."""
    target = _APPS.get(name)
    if target is None:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                target = ep.value
    if target is None:
        raise UserError(f"unknown app {name!r}; expected one of {', '.join(app_names())}", key)
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(f"app {name!r} cannot be loaded ({target}): {exc}", key) from None
