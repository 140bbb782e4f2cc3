"""Network classes by the name a model card gives (``network: mspn``); a new network is one entry here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn


def _mspn(**kwargs: Any) -> nn.Module:
    from posetrack_cli.nets.mspn import MSPN

    return MSPN(**kwargs)


def _mdpn(**kwargs: Any) -> nn.Module:
    from posetrack_cli.nets.mdpn import MDPN

    return MDPN(**kwargs)


NETWORKS = {"mspn": _mspn, "mdpn": _mdpn}


def build_network(name: str, args: Mapping[str, Any] | None = None) -> nn.Module:
    """``build_network("mspn", {"num_stages": 2})`` -> an ``MSPN`` with random weights."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}: use one of {sorted(NETWORKS)}")
    return NETWORKS[name](**dict(args or {}))
