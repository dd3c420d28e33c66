"""The warnings of a prediction answer: what every reader must see before the probabilities.

Kept free of heavy imports: the gRPC client gathers a study's warnings with :func:`study_warnings` too.
"""

from .tasks import SIMULATED

UNKNOWN_MODALITY_WARNING = (
    "the study's modality is unknown (no DICOM header; none given): only the feature distance to the "
    "training data was checked"
)


def unused_clinical_warning(names):
    """The warning naming clinical values that no selected model uses."""
    return f"clinical value(s) not used by any selected model, ignored: {', '.join(names)}"


def study_warnings(predictions, extra=()):
    """The top-level ``warnings`` of an answer holding ``predictions``: each distinct line once.

    Per-task standing warnings that say the same thing (a simulated cohort) are merged into one line
    listing the tasks, so the notice reads first and once.
    """
    by_text = {}
    for prediction in predictions:
        for line in prediction.get("warnings", ()):
            task, sep, rest = line.partition(": ")
            if sep and task == prediction.get("task"):
                by_text.setdefault(rest, []).append(task)
            else:
                by_text.setdefault(line, [])
    # The standing warnings (a simulated cohort) first, whatever the study; then each model's findings
    # about this study (outside its domain, ...); then what concerns the whole request.
    ranked = sorted(by_text.items(), key=lambda item: 0 if SIMULATED in item[0] else 1 if item[1] else 2)
    lines = [f"{', '.join(tasks)}: {text}" if tasks else text for text, tasks in ranked]
    for line in extra:
        if line not in lines:
            lines.append(line)
    return lines
