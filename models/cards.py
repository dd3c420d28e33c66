"""Model cards: what a marker model is, how it was trained and validated, beside the published comparator.

``card.json`` is the machine-readable card (the registry serves it; predictions quote its
``validation_summary``); ``card.md`` renders the same content for people.
"""

import json
from collections import Counter
from dataclasses import asdict

from .. import __version__
from .tasks import SIMULATED, get_task

#: The standing warning of a model trained on a simulated cohort (the card's ``warning``).
SIMULATED_WARNING = f"trained on a {SIMULATED}: its probabilities say nothing about any patient"

CONTRIBUTIONS_LINEAR = (
    "coefficient x standardized value (logit units; nomogram points): the feature's term in the model's logit"
)
CONTRIBUTIONS_OCCLUSION = (
    "logit(p) minus logit(p with the feature set to its training mean): "
    "how much this value moves the prediction"
)


#: the libraries whose versions decide a trained model's bytes (a rebuild is byte-identical only with these)
TRAINING_LIBRARIES = ("spinerad", "numpy", "scipy", "scikit-learn", "skl2onnx", "onnx", "onnxruntime")


def library_versions():
    """``{library: installed version}`` of :data:`TRAINING_LIBRARIES`, recorded in each card at training."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in TRAINING_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return versions


def validation_summary(validation, task):
    """The flat summary a prediction carries: measured AUCs with CIs and the literature's."""
    spec = get_task(task)
    internal, external = validation["internal"], validation.get("external")
    return {
        "internal_auc": internal["auc"],
        "internal_auc_ci95": internal["auc_ci95"],
        "internal_n": internal["n"],
        "internal_method": internal.get("method", ""),
        "sensitivity": internal["sensitivity"],
        "specificity": internal["specificity"],
        "brier": internal["brier"],
        "calibration_slope": internal["calibration_slope"],
        "external_auc": external["auc"] if external else None,
        "external_auc_ci95": external["auc_ci95"] if external else None,
        "external_n": external["n"] if external else 0,
        "published_auc_internal": spec.published_auc_internal,
        "published_auc_external": spec.published_auc_external,
    }


def build_card(model, metadata, onnx_sha256, onnx_bytes):
    """The JSON card of a :class:`~spinerad.models.train.TrainedModel` exported with ``metadata``."""
    spec = get_task(model.task)
    table = model.table
    simulated = model.trained_on == SIMULATED
    y_dev = table.y[model.development]
    centres = Counter(table.centres) if table.centres is not None else {}
    dev_centres = sorted({table.centres[i] for i in model.development}) if table.centres is not None else []
    ext_centres = sorted({table.centres[i] for i in model.external}) if table.centres is not None else []
    linear = metadata["linear"]
    features = [
        {
            "feature": name,
            "training_mean": mean,
            "training_sd": scale,
            **({"coefficient": coef} if linear else {}),
            "selected_in_cv_folds": model.selection_frequency.get(name, 0.0),
        }
        for name, mean, scale, coef in zip(
            metadata["feature_names"],
            metadata["zscore"]["mean"],
            metadata["zscore"]["scale"],
            linear["coefficients"] if linear else [None] * len(metadata["feature_names"]),
            strict=True,
        )
    ]
    if simulated:
        intended = (
            "Demonstration of spinerad's training and prediction pipeline only. "
            "Trained on a simulated cohort: "
            "its outputs say nothing about any patient."
        )
    else:
        intended = (
            "Research use. A radiomics model trained on one cohort; "
            "validate it on your own patients, scanners "
            "and protocols before relying on it."
        )
    caveats = [
        "The threshold is the Youden point of the nested-CV out-of-fold probabilities, so the internal "
        "sensitivity/specificity at it are slightly optimistic; external metrics use it unchanged.",
        "Features must be extracted with exactly the extraction parameters below (settings hash checked).",
    ]
    if simulated:
        caveats.insert(0, f"trained_on: {SIMULATED}. Not a medical device; never use it on patients.")
    caveats.append(
        "A prediction is a probability with its threshold and validation AUC, not a diagnosis; a study "
        "outside the applicability domain below gets no label unless it is asked for."
    )
    if table.skipped:
        caveats.append(f"{len(table.skipped)} case(s) of the cohort could not be extracted and were skipped.")
    card = {
        "card_format": 1,
        "model_id": metadata["model_id"],
        "model_version": model.model_version,
        "task": model.task,
        "predicts": spec.predicts,
        "primary_tumour": spec.primary_tumour,
        "positive_class": spec.positive,
        "negative_class": spec.negative,
        "trained_on": model.trained_on,
        "simulated": simulated,
        # Every prediction of this model carries this line in its warnings (None: no standing warning).
        "warning": SIMULATED_WARNING if simulated else None,
        "intended_use": intended,
        "spinerad_version": __version__,
        "library_versions": library_versions(),
        "classifier": model.config.classifier,
        "pipeline": [
            "features extracted by spinerad (cached per case)",
            f"near-constant filter (one value in > {model.config.max_mode_fraction:.0%} of cases)",
            "z-scoring (training mean and SD)",
            f"correlation filter (|r| >= {model.config.correlation_threshold}: keep the more label-related)",
            f"Mann-Whitney U test (p < {model.config.univariate_alpha}, "
            f"at least {model.config.min_univariate})",
            f"LASSO-logistic selection (C by {model.config.inner_folds}-fold inner CV, at most "
            f"{model.config.max_features} features)",
            {
                "logistic": "logistic regression (L2, C=1)",
                "svm": "RBF SVM, Platt-scaled",
                "random_forest": "random forest (200 trees, depth <= 4)",
            }[model.config.classifier],
        ],
        "config": asdict(model.config),
        "features": features,
        "intercept": linear["intercept"] if linear else None,
        "clinical_variables": metadata["clinical"],
        "threshold": model.threshold,
        "threshold_method": "Youden index on nested-CV out-of-fold probabilities",
        "contribution_method": CONTRIBUTIONS_LINEAR if linear else CONTRIBUTIONS_OCCLUSION,
        "extraction": {
            "params": metadata["extraction_params"],
            "settings_hash": metadata["settings_hash"],
            "features_extracted": len(table.extracted_names),
            "features_dropped": table.dropped,
        },
        "training": {
            "source": table.source,
            "n_cases": int(table.y.size),
            "n_development": int(model.development.size),
            "n_positive_development": int(y_dev.sum()),
            "n_negative_development": int(y_dev.size - y_dev.sum()),
            "n_external": int(model.external.size),
            "centres": dict(sorted(centres.items())),
            "development_centres": dev_centres,
            "external_centres": ext_centres,
            "skipped_cases": list(table.skipped),
            "simulation": table.simulated,
        },
        "validation": model.validation,
        "validation_summary": validation_summary(model.validation, model.task),
        "applicability_domain": model.domain,
        "literature": spec.comparator(),
        "onnx": {
            "file": "model.onnx",
            "sha256": onnx_sha256,
            "bytes": onnx_bytes,
            "input": "features (double, [N, n_features]) in the order of 'features'",
            "outputs": "label [N], probabilities [N, 2] (column 1: positive class)",
        },
        "caveats": caveats,
    }
    return card


def _fmt_auc(metrics):
    if not metrics:
        return "—"
    low, high = metrics["auc_ci95"]
    return f"{metrics['auc']:.3f} ({low:.3f}–{high:.3f})"


def _fmt(value, digits=3):
    return "—" if value is None else f"{value:.{digits}f}"


def render_markdown(card):
    """The Markdown model card."""
    v = card["validation"]
    internal, external = v["internal"], v.get("external")
    lit = card["literature"]
    lines = [f"# Model card: {card['task']} — {card['predicts']}", ""]
    if card["trained_on"] == SIMULATED:
        lines += [f"> **trained_on: {SIMULATED}.** A demonstration model; never use it on patients.", ""]
    lines += [
        f"- model id: `{card['model_id']}`, version {card['model_version']} "
        f"(spinerad {card['spinerad_version']})",
        f"- predicts: probability of **{card['positive_class']}** (vs {card['negative_class']}); "
        f"primary tumour: {card['primary_tumour']}",
        f"- trained on: {card['trained_on']}",
        f"- intended use: {card['intended_use']}",
        f"- classifier: {card['classifier']}; threshold {card['threshold']:.4f} ({card['threshold_method']})",
        "",
        "## Validation",
        "",
        "| | n | AUC (95% CI, DeLong) | sensitivity | specificity | Brier | calibration slope "
        "| calibration intercept |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in (("internal (nested CV)", internal), ("external (held-out centres)", external)):
        if m:
            lines.append(
                f"| {name} | {m['n']} | {_fmt_auc(m)} | {m['sensitivity']:.3f} | {m['specificity']:.3f} | "
                f"{m['brier']:.3f} | {m['calibration_slope']:.2f} | {m['calibration_intercept']:.2f} |"
            )
        else:
            lines.append(f"| {name} | — | not done (no held-out centre) | | | | | |")
    lines += [
        "",
        "Literature comparator (" + lit["review"]["source"] + "; review-wide weighted mean AUC "
        f"{lit['review']['weighted_mean_auc_internal']} internal, "
        f"{lit['review']['weighted_mean_auc_external']} external):",
        "",
        "| task id | predicts | primary tumour | published AUC, internal (external) |",
        "| --- | --- | --- | --- |",
        f"| {lit['task']} | {lit['predicts']} | {lit['primary_tumour']} | {lit['published_auc_internal']}"
        + (f" ({lit['published_auc_external']})" if lit["published_auc_external"] else "")
        + " |",
        "",
        "## Features",
        "",
        f"Contributions reported with each prediction: {card['contribution_method']}.",
        "",
        "| feature | coefficient | training mean | training SD | selected in CV folds |",
        "| --- | --- | --- | --- | --- |",
    ]
    for f in card["features"]:
        lines.append(
            f"| `{f['feature']}` | {_fmt(f.get('coefficient'))} | {f['training_mean']:.4g} "
            f"| {f['training_sd']:.4g} "
            f"| {f['selected_in_cv_folds']:.0%} |"
        )
    if card["intercept"] is not None:
        lines += ["", f"Intercept (logit): {card['intercept']:.4f}."]
    if card["clinical_variables"]:
        names = ", ".join(f"{c['name']} ({c['kind']})" for c in card["clinical_variables"])
        lines += ["", f"Clinical variables (combined clinical-radiomics nomogram): {names}."]
    t = card["training"]
    lines += [
        "",
        "## Training data",
        "",
        f"- source: {t['source']}; {t['n_cases']} cases, {t['n_development']} for development "
        f"({t['n_positive_development']} {card['positive_class']}, {t['n_negative_development']} "
        f"{card['negative_class']}), {t['n_external']} external",
    ]
    if t["centres"]:
        lines.append(
            "- centres: "
            + ", ".join(f"{k} ({n})" for k, n in t["centres"].items())
            + f"; development {', '.join(t['development_centres'])}; external "
            + (", ".join(t["external_centres"]) or "none")
        )
    if t["skipped_cases"]:
        lines.append(f"- skipped (could not be extracted): {len(t['skipped_cases'])} case(s)")
        lines += [f"  - CSV line {s['line']}: {s['error']}" for s in t["skipped_cases"]]
    d = card.get("applicability_domain")
    if d:
        known = ", ".join(
            f"{name} {value}"
            for name, value in (
                ("modality", d["modality"]),
                ("field strength (T)", d["field_strength_t"]),
                ("sequence", d["sequence"]),
            )
            if value is not None
        )
        lines += [
            "",
            "## Applicability domain",
            "",
            f"- trained on: {known or 'modality, field strength and sequence not recorded'}",
            f"- training distribution of {len(d['features'])} feature(s), the model's "
            f"{len(d.get('selected_features', d['features']))} selected radiomics feature(s) and intensity "
            f"descriptors: {', '.join(f'`{f}`' for f in d['features'])}; mean vector and covariance of "
            f"their z-scored values over {d['population']} (card.json)",
            f"- a study is outside when its modality differs or its {d['distance']} distance exceeds "
            f"{d['threshold']:.3f}: {d['threshold_method']}; training distances: median "
            f"{d['training_distances']['median']:.2f}, max {d['training_distances']['max']:.2f}",
        ]
    e = card["extraction"]
    lines += [
        "",
        "## Extraction",
        "",
        f"- settings hash: `{e['settings_hash']}`",
        f"- {e['features_extracted']} features extracted per case; parameters (PyRadiomics format):",
        "",
        "```json",
        json.dumps(e["params"], indent=2),
        "```",
        "",
        "## Pipeline",
        "",
        *[f"{i}. {step}" for i, step in enumerate(card["pipeline"], start=1)],
        "",
        "## Caveats",
        "",
        *[f"- {c}" for c in card["caveats"]],
        "",
    ]
    return "\n".join(lines)
