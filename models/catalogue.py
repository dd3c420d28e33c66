"""``spinerad models list`` / ``spinerad models show TASK``: the marker models and their cards.

From a local models folder (the shipped demo models by default) through :func:`load_models`, or from a
running server through its ``ListModels`` / ``GetModelCard`` RPCs (``--server HOST:PORT``), so an operator
sees what a deployment really serves. Both print JSON.
"""

#: card fields ``models list`` shows per model (the whole card: ``models show TASK``)
SUMMARY_FIELDS = (
    "task",
    "model_id",
    "model_version",
    "predicts",
    "positive_class",
    "threshold",
    "trained_on",
)


def _summary(card):
    summary = {field: card[field] for field in SUMMARY_FIELDS if field in card}
    validation = card.get("validation_summary") or {}
    for key in ("internal_auc", "external_auc"):
        if key in validation:
            summary[key] = validation[key]
    return summary


def list_local(models_dir=None):
    """``{"models_dir", "models": [summary per task], "settings_hash"}`` of a local models folder."""
    from .registry import load_models

    registry = load_models(models_dir)
    return {
        "models_dir": str(registry.folder),
        "models": [_summary(registry.card(task)) for task in registry.tasks],
        "settings_hash": registry.extraction_params.settings_hash(),
    }


def show_local(task, models_dir=None):
    """The model card (``card.json``) of ``task`` in a local models folder."""
    from .registry import load_models

    return load_models(models_dir).card(task)


def list_remote(client, timeout=None):
    """What a running server says it serves (``ListModels``)."""
    return client.list_models(timeout=timeout)


def show_remote(client, task, timeout=None):
    """A running server's model card of ``task`` (``GetModelCard``)."""
    return client.model_card(task, timeout=timeout)


__all__ = ["SUMMARY_FIELDS", "list_local", "list_remote", "show_local", "show_remote"]
