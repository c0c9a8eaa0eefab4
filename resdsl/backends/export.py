"""``resdsl export``: a compiled spec, with trained weights, as an ONNX model or a ``torch.export``
program (``.pt2``), checked against the PyTorch module it came from. Imports torch."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resdsl.errors import ResdslError, UsageError

if TYPE_CHECKING:
    import torch

    from resdsl.network import Network

FORMATS = (".onnx", ".pt2")


def export(network: Network, output: str | Path, weights: str | Path | None = None, batch: int = 2) -> float:
    """Write ``network`` (with ``weights`` loaded strictly, if given) to ``output`` in eval mode, with a
    dynamic batch dimension; returns the largest absolute difference between the exported model's
    outputs (run by onnxruntime, or by the reloaded program) and the module's on a random batch."""
    import torch

    from resdsl.backends.torch_tools import load_weights
    from resdsl.output import check_writable, write_file

    output = Path(output)
    if output.suffix not in FORMATS:
        raise UsageError(f"-o {output}: export writes .onnx or .pt2 files")
    check_writable(output)
    model = network.to_module().eval()
    if weights is not None:
        load_weights(model, weights)
    example = torch.randn(batch, *network.input_shape, generator=torch.Generator().manual_seed(0))
    dims = ({0: torch.export.Dim("batch", min=1)},)
    with torch.no_grad():
        expected = _flat(model(example))
        if output.suffix == ".pt2":
            program = torch.export.export(model, (example,), dynamic_shapes=dims)
            buffer = io.BytesIO()
            torch.export.save(program, buffer)
            data = buffer.getvalue()
            actual = _flat(torch.export.load(io.BytesIO(data)).module()(example))
        else:
            data, actual = _onnx(model, example, dims)
    difference = max(float((a.float() - e.float()).abs().max()) for a, e in zip(actual, expected))
    write_file(output, data)
    return difference


def _onnx(model: torch.nn.Module, example: torch.Tensor,
          dims: tuple[dict[int, Any]]) -> tuple[bytes, list[torch.Tensor]]:
    import torch

    try:
        import onnxruntime
    except ImportError:
        raise UsageError("ONNX export is checked with onnxruntime, which is not installed",
                         hint="pip install 'resdsl[export]'") from None
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.onnx"
        try:
            torch.onnx.export(model, (example,), str(path), dynamo=True, dynamic_shapes=dims, verbose=False,
                              external_data=False)
        except Exception as error:  # noqa: BLE001 - the exporter's many failure types get one message
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
            raise ResdslError(f"torch.onnx.export failed: {reason}") from None
        data = path.read_bytes()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: example.numpy()})
    return data, [torch.from_numpy(o) for o in outputs]


def _flat(value: torch.Tensor | dict[str, torch.Tensor]) -> list[torch.Tensor]:
    return list(value.values()) if isinstance(value, dict) else [value]
