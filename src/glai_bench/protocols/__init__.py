"""The bench protocols, one module per kind of setting, behind one registry.

``PROTOCOLS``: name -> :class:`~glai_bench.protocols.base.Protocol`; a setting class's
``protocol`` attribute is its key (:func:`protocol_for`). :func:`glai_bench.bench.run_bench`
runs every protocol the same way. A new kind of setting is one module here (a ``Protocol``
subclass with its head table), its settings dataclass (``protocol = "NAME"``) and entries in
:data:`glai_bench.settings.SETTINGS`, and one line below.
"""

from __future__ import annotations

from typing import Any

from glai_bench.protocols.base import Head, Options, Outcome, Protocol, Run
from glai_bench.protocols.classification import Classification
from glai_bench.protocols.federated import Federated
from glai_bench.protocols.fewshot import FewShot
from glai_bench.protocols.incremental import Incremental
from glai_bench.protocols.retrain import Retrain
from glai_bench.protocols.ssl import SSL
from glai_bench.settings import Setting

__all__ = ["PROTOCOLS", "protocol_for", "Protocol", "Head", "Options", "Outcome", "Run"]

PROTOCOLS: dict[str, Protocol[Any]] = {
    p.name: p for p in (Classification(), FewShot(), SSL(), Retrain(), Incremental(), Federated())
}


def protocol_for(setting: Setting) -> Protocol[Any]:
    """The protocol that runs ``setting`` (by its class's ``protocol`` name)."""
    try:
        return PROTOCOLS[setting.protocol]
    except KeyError:
        raise ValueError(
            f"setting {setting.name!r} names protocol {setting.protocol!r}; registered: "
            f"{', '.join(PROTOCOLS)}"
        ) from None
