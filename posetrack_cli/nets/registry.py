"""Network classes by the name a model card gives (``network: mspn``); a new network is one entry here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from posetrack_cli.config import NETWORK_NAMES
from posetrack_cli.nets.mdpn import MDPN
from posetrack_cli.nets.mspn import MSPN

NETWORKS: dict[str, type[nn.Module]] = dict(zip(NETWORK_NAMES, (MSPN, MDPN)))  # config.NETWORK_NAMES, in order


def build_network(name: str, args: Mapping[str, Any] | None = None) -> nn.Module:
    """``build_network("mspn", {"num_stages": 2})`` -> an ``MSPN`` with random weights."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}: use one of {sorted(NETWORKS)}")
    return NETWORKS[name](**dict(args or {}))
