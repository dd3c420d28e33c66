"""Results as DICOM: a BINARY SEG of the ROI and a Comprehensive 3D SR following TID 1500 (highdicom).

``write_results`` writes into one folder:

- ``seg.dcm``: the ROI exactly as spinerad used it (the label map before resampling/re-segmentation), a
  BINARY SEG on the source series. Not written when the mask already was a SEG: the SR references that one.
- ``sr.dcm``: a Comprehensive 3D SR, TID 1500 Measurement Report, with one "Volumetric ROI measurements and
  qualitative evaluations" group for the ROI (referencing the segment): the features as measurements (codes
  in :mod:`spinerad.dicom.codes`), and per marker model a qualitative evaluation (the class at the card's
  threshold) and the probability (DCM 122157 "Probability", unit 1) with the model as algorithm
  identification. The model card's "trained on" text (e.g. "simulated cohort — not for clinical use") and
  any prediction warnings are text items of the group. Each model, and spinerad's feature extraction, is an
  item of the Contributing Equipment Sequence (IHE AI Results: purpose "Processing Algorithm").

Patient and study attributes are copied from the source series (highdicom copies them from the evidence), so
PACS files the objects under the right patient; all UIDs are new.
"""

import datetime
import math
from pathlib import Path

import SimpleITK as sitk
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from .. import __version__
from ..errors import InvalidInput
from .codes import NO_UNITS, PRIVATE_SCHEME, PRIVATE_SCHEME_NAME, class_code, feature_code, task_code

#: IHE AI Results: the purpose of reference of an AI model in the Contributing Equipment Sequence.
PROCESSING_ALGORITHM = Code("Newcode1", "99IHE", "Processing Algorithm")
PROBABILITY = Code("122157", "DCM", "Probability")
COMMENT = Code("121106", "DCM", "Comment")
NOT_A_NUMBER = Code("114000", "DCM", "Not a number")
PROCEDURES = {
    "MR": Code("113091000", "SCT", "Magnetic resonance imaging"),
    "CT": Code("77477000", "SCT", "Computed tomography"),
}
SEG_FILE, SR_FILE = "seg.dcm", "sr.dcm"
MANUFACTURER = "spinerad"


def write_results(study, features, out_dir, predictions=(), label=1, cards=None):
    """Write ``seg.dcm`` (unless the mask was a SEG) and ``sr.dcm`` into ``out_dir``; return their paths.

    Parameters
    ----------
    study : spinerad.dicom.Study
        The study as loaded (its ``source`` must be a DICOM series).
    features : dict
        ``{feature name: value}`` as :func:`spinerad.extract` returned it.
    out_dir : str or pathlib.Path
    predictions : sequence of dict
        As ``ModelRegistry.predict`` returns them (``task``, ``probability``, ``label``, ``threshold``,
        ``model_id``, ``model_version``, ``trained_on``, optional ``warnings``).
    label : int
        The ROI label of ``study.mask``.
    cards : dict or None
        ``{task: model card}`` (the card's ``predicts`` names the task in the SR).
    """
    if study.source is None:
        raise InvalidInput(
            "--dicom-out needs the image as a DICOM series: the result objects reference its instances"
        )
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"cannot create {out}: {exc.strerror}") from None
    written = []
    if study.roi is not None and study.roi.kind == "seg":
        seg, segment_number = study.roi.dataset, study.roi.number
    else:
        seg, segment_number = build_seg(study, label), 1
        written.append(_save(seg, out / SEG_FILE))
    sr = build_sr(study, seg, segment_number, features, predictions, cards or {})
    written.append(_save(sr, out / SR_FILE))
    return written


def _save(dataset, path):
    try:
        dataset.save_as(path, enforce_file_format=True)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None
    return path


def _device(**extra):
    return {
        "manufacturer": MANUFACTURER,
        "manufacturer_model_name": "spinerad",
        "software_versions": __version__,
        "device_serial_number": "1",
        **extra,
    }


def build_seg(study, label):
    """A BINARY SEG of ``study.mask == label`` over the source series."""
    import highdicom as hd

    source = study.source
    roi = sitk.GetArrayFromImage(study.mask) == label
    if roi.ndim == 2:
        roi = roi[None]
    name = study.roi.name if study.roi is not None else f"ROI (label {label})"
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=name[:64],
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Lesion,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    if source.multiframe:
        from .series import affine_of

        pixels = hd.Volume(roi, affine_of(study.mask), "PATIENT", source.frame_of_reference_uid)
    else:
        pixels = roi
    return hd.seg.Segmentation(
        source_images=source.datasets,
        pixel_array=pixels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=_series_number(source, 1),
        sop_instance_uid=hd.UID(),
        instance_number=1,
        series_description="spinerad ROI",
        **_device(),
    )


def _series_number(source, offset):
    number = source.first.get("SeriesNumber")
    try:
        return int(number) * 100 + offset if number not in (None, "") else 9000 + offset
    except (TypeError, ValueError):
        return 9000 + offset


def _measurements(features, modality):
    import highdicom as hd

    measurements = []
    for feature, value in features.items():
        code = feature_code(feature, modality)
        qualifier = None
        if not math.isfinite(value):
            value, qualifier = 0.0, NOT_A_NUMBER  # PyRadiomics leaves it undefined; the SR says so
        measurements.append(
            hd.sr.Measurement(
                name=code.name,
                value=float(value),
                unit=code.unit,
                qualifier=qualifier,
                method=code.method,
                derivation=code.derivation,
            )
        )
    return measurements


def device_observer(uid, model_name=None):
    """The SR observer context of spinerad as the device that made the report (``uid``: the device's)."""
    import highdicom as hd

    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=uid, name="spinerad", manufacturer_name=MANUFACTURER, model_name=model_name
        ),
    )


def report_sr(group, modality, observer, evidence, **header):
    """TID 1500 report of one measurement ``group`` as a complete, preliminary, unverified spinerad SR.

    ``header``: ``series_instance_uid``, ``series_number``, ``sop_instance_uid``, ``series_description``.
    """
    import highdicom as hd

    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=PROCEDURES.get(modality, codes.SCT.ImagingProcedure),
        imaging_measurements=[group],
    )
    return comprehensive_3d_sr(
        evidence=evidence,
        content=report[0],
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
        **header,
    )


def build_sr(study, seg, segment_number, features, predictions, cards):
    """The TID 1500 Comprehensive 3D SR of one ROI's features and predictions."""
    import highdicom as hd

    source = study.source
    modality = str(source.first.get("Modality", ""))
    observer = device_observer(hd.UID(), model_name="spinerad radiomics")
    referenced = hd.sr.ReferencedSegment(
        sop_class_uid=seg.SOPClassUID,
        sop_instance_uid=seg.SOPInstanceUID,
        segment_number=segment_number,
        source_series=hd.sr.SourceSeriesForSegmentation(source.series_instance_uid),
    )
    qualitative, model_measurements, texts = [], [], []
    for prediction in predictions:
        task = prediction["task"]
        card = cards.get(task, {})
        concept = task_code(task, card.get("predicts") or task)
        above = prediction["probability"] >= prediction["threshold"]
        qualitative.append(
            hd.sr.QualitativeEvaluation(concept, class_code(task, above, str(prediction["label"])))
        )
        model_measurements.append(
            hd.sr.Measurement(
                name=PROBABILITY,
                value=float(prediction["probability"]),
                unit=NO_UNITS,
                method=concept,
                algorithm_id=hd.sr.AlgorithmIdentification(
                    name=str(prediction["model_id"])[:64], version=str(prediction["model_version"])[:64]
                ),
            )
        )
        texts.append(
            f"{task}: model {prediction['model_id']} version {prediction['model_version']}, threshold "
            f"{prediction['threshold']:.4f}; trained on: {prediction.get('trained_on')}"
        )
        texts.extend(f"{task}: warning: {w}" for w in prediction.get("warnings") or ())
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="ROI 1"),
        referenced_segment=referenced,
        finding_type=codes.SCT.Lesion,
        algorithm_id=hd.sr.AlgorithmIdentification(name="spinerad", version=__version__),
        measurements=_measurements(features, modality) + model_measurements,
        qualitative_evaluations=qualitative or None,
    )
    container = group[0]
    for text in texts:
        container.ContentSequence.append(
            hd.sr.TextContentItem(
                name=COMMENT, value=text[:1024], relationship_type=hd.sr.RelationshipTypeValues.CONTAINS
            )
        )
    sr = report_sr(
        group,
        modality,
        observer,
        list(source.datasets) + [seg],
        series_instance_uid=hd.UID(),
        series_number=_series_number(source, 2),
        sop_instance_uid=hd.UID(),
        series_description="spinerad radiomics report",
    )
    _add_contributing_equipment(sr, predictions)
    _add_private_scheme(sr)
    sr.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: the model cards' texts are not ASCII ("—")
    return sr


def comprehensive_3d_sr(content, evidence, **kwargs):
    """``highdicom.sr.Comprehensive3DSR(evidence=..., content=..., **kwargs)`` without its deep copy of the tree.

    highdicom 0.28's constructor deep-copies the whole content tree and re-parses the copy (about 60 % of an
    SR's build time with ~110 measurements: 0.3-0.5 s here). The constructor is given the root container with
    an empty ContentSequence instead (the header, flags and evidence sequences it builds from the root, which
    list every evidence instance whether the tree references it or not), then the real tree is attached and
    the object re-read in place (``from_dataset(copy=False)``), so ``sr.content`` is the real tree too.
    What the tree references must be in ``evidence`` (the constructor's check of that is done here). The
    dataset is the same as the plain constructor's (``tests/dicom/test_results.py`` compares them).
    """
    import highdicom as hd
    from pydicom.sequence import Sequence as DicomSequence

    tree = content.ContentSequence
    given = {str(ds.SOPInstanceUID) for ds in evidence}
    missing = sorted(_referenced_instances(tree) - given)
    if missing:
        raise ValueError(
            "no evidence given for SOP instances the SR content references: " + ", ".join(missing)
        )
    root = Dataset()
    for element in content:
        if element.keyword != "ContentSequence":
            root.add(element)
    root.ContentSequence = DicomSequence()
    sr = hd.sr.Comprehensive3DSR(evidence=evidence, content=root, **kwargs)
    sr.ContentSequence = tree
    return hd.sr.Comprehensive3DSR.from_dataset(sr, copy=False)


def _referenced_instances(items):
    """SOP Instance UIDs referenced by IMAGE/COMPOSITE items of an SR content tree."""
    found = set()
    for item in items:
        if item.get("ValueType") in ("IMAGE", "COMPOSITE"):
            found.add(str(item.ReferencedSOPSequence[0].ReferencedSOPInstanceUID))
        if "ContentSequence" in item:
            found |= _referenced_instances(item.ContentSequence)
    return found


def _equipment_item(model_name, version, description):
    item = Dataset()
    item.Manufacturer = MANUFACTURER
    item.ManufacturerModelName = model_name[:64]
    item.SoftwareVersions = version[:64]
    item.ContributionDateTime = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
    item.ContributionDescription = description[:1024]
    purpose = Dataset()
    purpose.CodeValue = PROCESSING_ALGORITHM.value
    purpose.CodingSchemeDesignator = PROCESSING_ALGORITHM.scheme_designator
    purpose.CodeMeaning = PROCESSING_ALGORITHM.meaning
    item.PurposeOfReferenceCodeSequence = [purpose]
    return item


def _add_contributing_equipment(sr, predictions):
    """IHE AI Results: each algorithm in the Contributing Equipment Sequence, purpose "Processing Algorithm".

    Added as plain items: highdicom's ``ContributingEquipment`` refuses this (99IHE) purpose code.
    """
    items = list(sr.get("ContributingEquipmentSequence", []))
    items.append(
        _equipment_item("spinerad radiomics", __version__, "radiomics feature extraction (PyRadiomics-exact)")
    )
    for prediction in predictions:
        items.append(
            _equipment_item(
                str(prediction["model_id"]),
                str(prediction["model_version"]),
                f"marker model {prediction['task']}; trained on: {prediction.get('trained_on')}",
            )
        )
    sr.ContributingEquipmentSequence = items


def _add_private_scheme(sr):
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = PRIVATE_SCHEME_NAME
    item.CodingSchemeResponsibleOrganization = "spinerad"
    sr.CodingSchemeIdentificationSequence = list(sr.get("CodingSchemeIdentificationSequence", [])) + [item]


def read_sr_values(sr):
    """Features and probabilities read back from a written SR (highdicom), keyed like the JSON output.

    Returns ``({feature name: value}, {task: probability})``; the names are rebuilt from the codes, so the
    reader needs no side table: IBSI/DCM codes are mapped back through :func:`feature_code` of the names the
    SR's measurement methods and concepts allow.
    """
    import highdicom as hd

    report = hd.sr.srread(sr) if isinstance(sr, (str, Path)) else hd.sr.Comprehensive3DSR.from_dataset(sr)
    groups = report.content.get_volumetric_roi_measurement_groups()
    values, probabilities = {}, {}
    for group in groups:
        for measurement in group.get_measurements():
            method = measurement.method
            value = measurement.value
            if measurement.qualifier is not None and measurement.qualifier.value == NOT_A_NUMBER.value:
                value = float("nan")
            if measurement.name.value == PROBABILITY.value:
                probabilities[method.value.removeprefix("task.")] = value
                continue
            derivation = measurement.derivation
            key = (
                measurement.name.value,
                measurement.name.scheme_designator,
                method.value,
                derivation.value if derivation is not None else None,
            )
            values[key] = value
    return values, probabilities


def feature_key(feature, modality):
    """The (concept value, scheme, image type, derivation) key :func:`read_sr_values` gives ``feature``."""
    code = feature_code(feature, modality)
    return (
        code.name.value,
        code.name.scheme_designator,
        code.method.value,
        code.derivation.value if code.derivation is not None else None,
    )


__all__ = ["SEG_FILE", "SR_FILE", "build_seg", "build_sr", "feature_key", "read_sr_values", "write_results"]
