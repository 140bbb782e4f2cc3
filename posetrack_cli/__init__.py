"""posetrack: multi-person pose tracking in videos (MDPN pipeline with MSPN/MDPN top-down networks)."""

__version__ = "0.1.0"
