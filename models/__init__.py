"""Marker models: ONNX classifiers per prediction task with model cards. Not built yet (issue 4)."""
