"""The seven published prediction tasks: what each predicts, its class names and its literature comparator.

The comparator rows are the systematic review's table (11 studies, 2,211 patients; review-wide weighted mean
AUC 0.849 internal, 0.791 external). A model card carries its task's row beside its own measured AUCs, so a
reader sees at once how a locally trained model compares with what was published.
"""

from dataclasses import asdict, dataclass

from .errors import UnknownTask

REVIEW = {
    "source": "systematic review of radiomics for spinal metastases, 11 studies, 2,211 patients",
    "weighted_mean_auc_internal": 0.849,
    "weighted_mean_auc_external": 0.791,
}

#: The statement every card and every prediction of a model trained on spinerad's simulator carries.
SIMULATED = "simulated cohort — not for clinical use"


@dataclass(frozen=True)
class Task:
    """One prediction task. ``positive`` is the class whose probability the model outputs."""

    task: str
    predicts: str
    primary_tumour: str
    positive: str
    negative: str
    published_auc_internal: str
    published_auc_external: str | None

    def comparator(self):
        """The literature comparator row of this task (for the model card)."""
        row = asdict(self)
        row["review"] = dict(REVIEW)
        return row


TASKS = {
    t.task: t
    for t in (
        Task(
            "egfr_mutation",
            "EGFR mutant vs wild type",
            "NSCLC / lung adenocarcinoma",
            "EGFR mutant",
            "EGFR wild type",
            "0.793–0.927",
            "0.738–0.865",
        ),
        Task(
            "egfr_exon19_vs_21",
            "exon 19 deletion vs exon 21 L858R",
            "lung adenocarcinoma",
            "exon 19 deletion",
            "exon 21 L858R",
            "0.760–0.901",
            "0.687",
        ),
        Task(
            "egfr_t790m",
            "T790M resistance mutation",
            "lung adenocarcinoma",
            "T790M positive",
            "T790M negative",
            "0.842",
            "0.800",
        ),
        Task(
            "egfr_tki_response", "response to EGFR-TKI", "NSCLC", "responder", "non-responder", "0.880", None
        ),
        Task(
            "ki67_high",
            "Ki-67 high vs low",
            "breast cancer, NSCLC",
            "Ki-67 high",
            "Ki-67 low",
            "0.798–0.812",
            None,
        ),
        Task(
            "her2_positive",
            "HER-2 positive vs negative",
            "breast cancer",
            "HER-2 positive",
            "HER-2 negative",
            "0.796",
            None,
        ),
        Task(
            "origin_nsclc_vs_breast",
            "primary origin of the metastasis",
            "NSCLC vs breast",
            "NSCLC",
            "breast cancer",
            "0.890",
            None,
        ),
    )
}


def get_task(task):
    """The :class:`Task` named ``task``; :class:`~spinerad.errors.UnknownTask` otherwise."""
    try:
        return TASKS[task]
    except (KeyError, TypeError):
        raise UnknownTask(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}") from None
