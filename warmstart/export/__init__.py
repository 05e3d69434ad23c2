"""Export to ONNX/TorchScript (raw inputs in, probabilities out) and prediction on files."""

from warmstart.export.exporter import FORMATS, export_model
from warmstart.export.predict import predict_files

__all__ = ["FORMATS", "export_model", "predict_files"]
