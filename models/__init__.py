"""Marker models: train, validate and export ONNX classifiers for the seven published prediction tasks.

- :mod:`~spinerad.models.registry`: ``load_models(dir)`` -> ``ModelRegistry.predict(features, ...)``
  (onnxruntime; what ``spinerad predict`` and the gRPC service use).
- :mod:`~spinerad.models.train`: the pipeline of ``spinerad train`` (nested CV, selection, classifier).
- :mod:`~spinerad.models.metrics`: DeLong AUC CI, Youden threshold, Brier score, calibration.
- :mod:`~spinerad.models.export` / :mod:`~spinerad.models.cards`: ONNX with metadata, model cards.
- :mod:`~spinerad.models.simulate`: seeded simulated cohorts; :mod:`~spinerad.models.rebuild`: demo models.
- ``demo/``: the shipped demonstration models, trained on simulated cohorts — not for clinical use.

Importing this package is cheap; scikit-learn, skl2onnx and onnxruntime load with the modules that need them.
"""
