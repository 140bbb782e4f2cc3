"""Runtime "compile" (pose.compiled: torch.compile, frozen weights, batches padded to static buckets) against the
plain path, on the tiny peaked MSPN of test_speed_paths.py.

Tolerances: float32 throughout, so heatmaps agree to 1e-4 of their range (Inductor fuses and reorders float32
sums) and keypoints to one quarter-offset step (``FP32_TOL``, as for the other float32 speed paths). Padding adds
zero images to a batch whose images are computed independently, so the rows of a padded batch equal those of the
same images run without padding (same graph, 1e-6 of the range) and those of each image alone (other graph, 1e-4).

Two compilations (batch buckets 4 and 2, ~10-25 s each on 2 busy cores): torch.compile needs a C compiler; where
it cannot compile the test fails (Dynamo raises), it is never skipped.
"""

from __future__ import annotations

import gc
import logging
import weakref

import pytest
import torch
from test_speed_paths import CARD, CROPS, FP32_TOL, assert_same_keypoints, build, estimate, heatmaps
from test_speed_paths import plain_keypoints  # noqa: F401  (fixture)

from posetrack_cli.errors import PosetrackError
from posetrack_cli.pose.compiled import CompiledPredict, batch_buckets, pad_batch
from posetrack_cli.pose.topdown import normalise

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("max_batch,buckets", [(1, (1,)), (2, (1, 2)), (4, (1, 2, 4)), (24, (1, 2, 4, 8, 16, 24)),
                                               (32, (1, 2, 4, 8, 16, 32))])
def test_batch_buckets(max_batch, buckets):
    assert batch_buckets(max_batch) == buckets


def test_batch_buckets_refuse_zero():
    with pytest.raises(ValueError, match="max_batch"):
        batch_buckets(0)


def test_pad_batch_keeps_rows_in_the_memory_format():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    padded = pad_batch(x, 4, torch.channels_last)
    assert padded.shape == (4, 3, 4, 5) and padded.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(padded[:2], x) and not padded[2:].any()
    assert pad_batch(x, 2) is x
    converted = pad_batch(x, 2, torch.channels_last)
    assert converted.is_contiguous(memory_format=torch.channels_last) and torch.equal(converted, x)


def test_compile_runtime_matches_plain_and_padding_changes_nothing(plain_keypoints, caplog):  # noqa: F811
    """batch_size 4 with the flip test: forwards of 2 crops x 2 (bucket 4) and 1 crop x 2 (bucket 2)."""
    est = build(runtime="compile")
    predict = est._predict
    assert isinstance(predict, CompiledPredict) and predict.buckets == (1, 2, 4)
    caplog.set_level(logging.INFO, logger="posetrack_cli.pose.compiled")
    keypoints = estimate(est)  # 3 crops: forwards of 4 and 2 images
    assert_same_keypoints(keypoints, plain_keypoints, FP32_TOL, 1e-4)
    assert compilations(caplog) == ["batch 4", "batch 2"]
    # compiled graphs, not an eager fallback: one Dynamo cache entry per bucket on the wrapper's own code object
    assert graphs(predict) == 2

    plain = build(optimize=False, channels_last=False)
    ref = heatmaps(plain, CROPS)  # 3 crops + mirrored = 6 images: chunks of 4 and 2 through the compiled graphs
    torch.testing.assert_close(heatmaps(est, CROPS), ref, rtol=0, atol=1e-4 * ref.abs().max().item())

    x = normalise(CROPS, CARD, est.device, est.memory_format)  # 3 images -> padded to bucket 4
    x4 = torch.cat([x, x[:1].flip(-1)]).contiguous()  # the same 3 and a 4th, NCHW, made outside inference mode:
    assert not x4.is_inference() and not x4.is_contiguous(memory_format=torch.channels_last)  # converted, no new graph
    padded, full = predict(x), predict(x4)
    scale = full.abs().max().item()
    assert padded.shape == (3, 17, 64, 48)
    torch.testing.assert_close(padded, full[:3], rtol=0, atol=1e-6 * scale)
    for i in range(3):  # each crop alone (a pair in bucket 2, as it comes without padding) against its padded row
        alone = predict(torch.cat([x[i:i + 1], x4[3:]]))[0]
        torch.testing.assert_close(padded[i], alone, rtol=0, atol=1e-4 * scale)
    assert compilations(caplog) == ["batch 4", "batch 2"] and graphs(predict) == 2  # nothing new compiled

    weight = weakref.ref(next(est.net.parameters()))  # frozen into the graphs: freed with the estimator
    del est, predict
    gc.collect()
    assert weight() is None


def graphs(predict: CompiledPredict) -> int:
    """Graphs compiled for the wrapper (Dynamo's cache entries on its code object): 0 if it fell back to eager,
    more than the logged ones if a guard (strides, dispatch keys) compiled a graph the buckets did not ask for."""
    from torch._dynamo.eval_frame import _debug_get_cache_entry_list

    return len(_debug_get_cache_entry_list(predict._function.__code__))


def compilations(caplog) -> list[str]:
    """The batch sizes named by the wrapper's "torch.compile: pose network batch N in S s" lines."""
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("torch.compile: pose network")]
    return [line.split("network ")[1].split(" in ")[0] for line in lines]


def test_compile_is_a_known_runtime():
    with pytest.raises(PosetrackError, match="compile, onnx, int8"):
        build(runtime="tensorrt")
