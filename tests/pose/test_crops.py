import numpy as np

from posetrack_cli.pose.crops import box_to_center_size, crop_images, crop_warps, invert_warps, transform_points


def test_box_grows_to_aspect_and_pads():
    centers, sizes = box_to_center_size(np.array([[10, 20, 40, 60], [0, 0, 90, 60]]), 0.75, 1.25)
    np.testing.assert_allclose(centers, [[25, 40], [45, 30]])
    # box 0: 30x40 is exactly 0.75 -> padded 37.5x50; box 1: 90x60 is too wide -> h = 120 -> 112.5x150
    np.testing.assert_allclose(sizes, [[37.5, 50], [112.5, 150]])


def test_warp_maps_box_to_crop_and_back():
    centers, sizes = box_to_center_size(np.array([[100, 50, 148, 114]]), 0.75, 1.0)  # 48x64 box
    warps = crop_warps(centers, sizes, (192, 256))
    corners = np.array([[[100, 50], [148, 114], [124, 82]]], float)
    np.testing.assert_allclose(transform_points(corners, warps), [[[0, 0], [192, 256], [96, 128]]], atol=1e-9)
    back = transform_points(transform_points(corners, warps), invert_warps(warps))
    np.testing.assert_allclose(back, corners, atol=1e-9)


def test_rotation_and_flip():
    warps = crop_warps(np.array([[0.0, 0.0]]), np.array([[10.0, 10.0]]), (10, 10), rotations_deg=[90], flip=None)
    # A point right of the centre ends up above it after a 90 deg counter-clockwise turn.
    np.testing.assert_allclose(transform_points(np.array([[[1.0, 0.0]]]), warps), [[[5, 4]]], atol=1e-9)
    flipped = crop_warps(np.array([[0.0, 0.0]]), np.array([[10.0, 10.0]]), (10, 10), flip=[True])
    np.testing.assert_allclose(transform_points(np.array([[[1.0, 2.0]]]), flipped), [[[4, 7]]], atol=1e-9)


def test_crop_images_content():
    frame = np.zeros((100, 100, 3), np.uint8)
    frame[40:60, 40:60] = 255  # a white square in the middle
    centers, sizes = box_to_center_size(np.array([[30, 30, 70, 70]]), 1.0, 1.0)
    crops = crop_images(frame, crop_warps(centers, sizes, (40, 40)), (40, 40))
    assert crops.shape == (1, 40, 40, 3)
    assert crops[0, 20, 20, 0] == 255 and crops[0, 2, 2, 0] == 0
    assert crops[0, 11:29, 11:29].min() == 255
