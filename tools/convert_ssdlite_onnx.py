"""Convert the bundled SSDLite-MobileNetV2 person detector (TensorFlow frozen graph) to ONNX, once.

The ONNX graph is the network only, from the resized image to the raw per-anchor outputs; resizing, anchor decoding
and NMS stay in ``posetrack_cli/detect/ssdlite.py`` (numpy), where they reproduce the ``cv2.dnn`` DetectionOutput
that ran the text graph before (benchmarks/RESULTS.md §7):

- input ``images``: (B, 300, 300, 3) float32, RGB 0..255, NHWC (the graph's ``Preprocessor`` scale to [-1, 1] is
  kept; the cut replaces its resize loop, which ran ``tf.image.resize_bilinear`` per image);
- output ``box_encodings``: (B, 1917, 4) float32, the box coder's ``[ty, tx, th, tw]`` per anchor (TF ``Squeeze``);
- output ``class_scores``: (B, 1917, 2) float32, sigmoid scores of [background, person] per anchor
  (TF ``Postprocessor/convert_scores``: the logits divided by the logit scale 1.0, then a sigmoid).

It needs TensorFlow and tf2onnx, which posetrack does not depend on; a throwaway virtual environment does:

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.21.0 tf2onnx==1.17.0
    /tmp/tfvenv/bin/python tools/convert_ssdlite_onnx.py
    # -> weights/ssdlite_mobilenet_v2_person.onnx; its sha256 goes into weights/MANIFEST.md

Those pins are the versions the bundled file was made with (Python 3.11; pip resolved onnx 1.23.2, protobuf 7.36.2,
numpy 2.4.6 beside them). tf2onnx 1.17.0 does not require TensorFlow in its metadata, and converts this graph under
TensorFlow 2.21 with deprecation warnings only. Two changes make the output reproducible: the box predictors'
reshapes get constant shapes (``static_reshapes``), and tf2onnx's names and node order, which change from run to
run, are replaced by ones that depend only on the graph (``canonical_names``); six runs wrote the same bytes. Other
versions may still give another sha256 (producer version, optimiser passes) for the same network.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import tempfile
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
SOURCE = WEIGHTS / "ssdlite_mobilenet_v2_person.pb"
TARGET = WEIGHTS / "ssdlite_mobilenet_v2_person.onnx"
SIZE = 300  # the pipeline config's fixed_shape_resizer; the graph's reshapes are fixed to its feature maps
RESIZED = "Preprocessor/map/TensorArrayStack/TensorArrayGatherV3:0"  # the resize loop's stacked output
OUTPUTS = {"box_encodings": "Squeeze:0", "class_scores": "Postprocessor/convert_scores:0"}
OPSET = 13


def static_reshapes(graph_def) -> None:
    """Each box predictor reshapes its (B, h, w, anchors x k) output to (B, h x w x anchors, [1,] k) with B read
    from a ``Shape`` op and the anchor count left as -1; write the anchor count and -1 for B instead, so that the
    shapes are constants and the ONNX graph has no shape arithmetic. ``h``, ``w`` follow from the 300 px input."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, (None, SIZE, SIZE, 3))
        tf.compat.v1.import_graph_def(graph_def, input_map={RESIZED: images}, name="")
    for node in list(graph_def.node):
        if node.op == "Pack" and re.fullmatch(r"BoxPredictor_\d/Reshape(_1)?/shape", node.name):
            reshape = graph.get_operation_by_name(node.name.rsplit("/", 1)[0])
            k = graph.get_operation_by_name(node.input[-1]).get_attr("value").int_val[0]  # 4 or 2 per anchor
            _, h, w, channels = reshape.inputs[0].shape.as_list()
            node.input[0] = _int_const(graph_def, f"{node.name}/batch", -1)
            node.input[1] = _int_const(graph_def, f"{node.name}/anchors", h * w * channels // k)


def _int_const(graph_def, name: str, value: int) -> str:
    import tensorflow as tf

    const = graph_def.node.add(name=name, op="Const")
    const.attr["dtype"].type = tf.int32.as_datatype_enum
    const.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value, tf.int32))
    return name


def cut_graph(frozen: bytes):
    """The frozen graph with a float32 ``images`` placeholder in place of the resize loop and the two outputs
    renamed, pruned to what they need."""
    import tensorflow as tf

    source = tf.compat.v1.GraphDef()
    source.ParseFromString(frozen)
    static_reshapes(source)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, (None, SIZE, SIZE, 3), name="images")
        found = tf.compat.v1.import_graph_def(source, input_map={RESIZED: images},
                                              return_elements=list(OUTPUTS.values()), name="")
        for name, tensor in zip(OUTPUTS, found):
            tf.identity(tensor, name=name)
    return tf.compat.v1.graph_util.extract_sub_graph(graph.as_graph_def(), list(OUTPUTS))


def structural_order(graph) -> list:
    """The nodes in an order that depends only on what feeds what: depth-first from the outputs, each node after
    its inputs in the order it takes them (a valid topological order; nodes nothing uses are left out)."""
    producer = {out: node for node in graph.node for out in node.output}
    order, placed = [], set()
    stack = [(producer[value.name], False) for value in reversed(graph.output)]
    while stack:
        node, inputs_placed = stack.pop()
        if id(node) in placed:
            continue
        if inputs_placed:
            placed.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((producer[t], False) for t in reversed(node.input) if t in producer)
    return order


def canonical_names(graph, io_names: dict[str, str]) -> None:
    """Rename what tf2onnx names differently from run to run (it numbers the constants it merges and helper nodes
    in an order that changes between runs), so that a rerun writes the same bytes: inputs and outputs get
    ``io_names`` (without TF's ":0"), nodes are put in ``structural_order``, other tensors are named ``t0, t1, ...``
    in that order, initializers sorted by that name, nodes ``{op}_{index}`` (TF names would not do: of two
    identical nodes that tf2onnx merges, either name may survive); shape annotations are dropped."""
    names = dict(io_names)

    def name(tensor: str) -> str:
        if tensor and tensor not in names:
            names[tensor] = f"t{len(names) - len(io_names)}"
        return names.get(tensor, tensor)

    ordered_nodes = structural_order(graph)
    del graph.node[:]
    graph.node.extend(ordered_nodes)
    for i, node in enumerate(graph.node):
        node.input[:] = [name(t) for t in node.input]
        node.output[:] = [name(t) for t in node.output]
        node.name = f"{node.op_type}_{i}"
    for value in [*graph.input, *graph.output]:
        value.name = names[value.name]
    for tensor in graph.initializer:
        tensor.name = name(tensor.name)
    ordered = sorted(graph.initializer, key=lambda t: int(t.name[1:]))
    del graph.initializer[:]
    graph.initializer.extend(ordered)
    del graph.value_info[:]


def convert(source: Path, target: Path) -> Path:
    """Write the ONNX graph through a temporary file in the target folder, renamed into place."""
    import onnx
    import tf2onnx

    graph_def = cut_graph(source.read_bytes())
    model, _ = tf2onnx.convert.from_graph_def(graph_def, name="ssdlite_mobilenet_v2_person", input_names=["images:0"],
                                              output_names=[f"{n}:0" for n in OUTPUTS], opset=OPSET)
    canonical_names(model.graph, {"images:0": "images", **{f"{n}:0": n for n in OUTPUTS}})
    onnx.checker.check_model(model, full_check=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the bundled file private
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out", type=Path, default=TARGET)
    args = ap.parse_args()
    path = convert(args.source, args.out)
    print(f"{path}: {path.stat().st_size} bytes, sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
