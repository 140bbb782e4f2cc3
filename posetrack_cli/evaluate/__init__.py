"""Evaluation: PoseTrack mAP + MOTA as the official poseval (``posetrack``), COCO keypoint AP through pycocotools
(``coco``) and MPII PCKh (``pckh``)."""
