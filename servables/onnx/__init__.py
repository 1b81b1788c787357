"""ONNX models (``model_platform: "onnx"``), run with onnxruntime; see ``onnx_model``."""
