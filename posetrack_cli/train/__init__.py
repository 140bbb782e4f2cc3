"""Training: datasets (COCO, MPII, PoseTrack 2018), one-affine augmentation, MSPN/MDPN targets and losses, the
schedule as data, and the resumable loop behind ``posetrack train CONFIG.yaml``."""
