"""How an exported float32 encoder becomes the ``model.onnx`` of a model folder ([train] extra: onnx).

- ``int8``: onnxruntime's dynamic quantization. Weights are int8 per output channel, and every
  MatMul quantizes its input to 8 bits with a scale taken from that tensor's range at run time.
  It is the fastest, but a last-bit change in any float kernel (another onnxruntime release,
  another CPU) can move a tensor's range and re-round all of it, which moves spans.
- ``int8-weights``: the same int8 weights, dequantized in the graph, with float32 activations. A
  last-bit change stays a last-bit change, so the numbers agree across releases and CPUs.
- ``fp32``: the export as it is (four times the size).
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

QUANTIZATIONS = ("int8", "int8-weights", "fp32")


def quantize(fp32_path: Path, out_path: Path, how: str) -> None:
    """Write ``out_path`` from the float32 export at ``fp32_path`` (kept), one of ``QUANTIZATIONS``."""
    if how == "fp32":
        shutil.copyfile(fp32_path, out_path)
        return
    if how not in QUANTIZATIONS:
        raise ValueError(f"export.quantize = {how!r}: choose one of {', '.join(QUANTIZATIONS)}")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32_path), str(out_path), weight_type=QuantType.QInt8, per_channel=True)
    if how == "int8-weights":
        float_activations(out_path, out_path)


def float_activations(int8_path: Path, out_path: Path) -> None:
    """Rewrite a dynamically quantized graph so that each MatMulInteger chain (input quantizer,
    integer MatMul, cast, rescale) becomes a float32 MatMul over its dequantized int8 weights."""
    import onnx
    from onnx import helper

    model = onnx.load(str(int8_path))
    graph = model.graph
    producer = {name: node for node in graph.node for name in node.output}
    readers: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            readers[name].append(node)
    initializers = {tensor.name for tensor in graph.initializer}
    replaced: dict[int, list[Any]] = {}
    dropped: set[int] = set()
    for node in [n for n in graph.node if n.op_type == "MatMulInteger"]:
        quantized_input, weights, _, weight_zero_point = node.input
        (cast,) = readers[node.output[0]]
        (rescale,) = readers[cast.output[0]]
        scales = producer[next(name for name in rescale.input if name != cast.output[0])]
        (weight_scale,) = [name for name in scales.input if name in initializers]
        dequantized = f"{node.name}_float_weights"
        replaced[id(node)] = [
            helper.make_node("DequantizeLinear", [weights, weight_scale, weight_zero_point], [dequantized],
                             name=f"{node.name}_dequantize", axis=1),
            helper.make_node("MatMul", [producer[quantized_input].input[0], dequantized], [rescale.output[0]],
                             name=f"{node.name}_float"),
        ]
        dropped |= {id(cast), id(rescale)}
    nodes = [new for node in graph.node if id(node) not in dropped for new in replaced.get(id(node), [node])]
    outputs = {output.name for output in graph.output}
    while True:  # the input quantizers and scale products are left without a reader
        read = {name for node in nodes for name in node.input} | outputs
        kept = [node for node in nodes if any(name in read for name in node.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
