"""Protobuf <-> domain conversion for the servicers: unpack requests, pack events. No logic beyond shapes."""

import math

import numpy as np
from google.protobuf import struct_pb2

from spinerad.v1 import events_pb2, study_pb2

from . import status
from .decode import DicomEncoding, DicomObjectEncoding, FileEncoding, RawEncoding, VolumeSpec
from .engine import Accepted, Completed, Failed, Predicted, StageDone, StudyRequest
from .errors import ProtocolError
from .upload import IMAGE, MASK, Chunk

_PARTS = {study_pb2.PART_IMAGE: IMAGE, study_pb2.PART_MASK: MASK}


# --- requests -----------------------------------------------------------------------------------------------


def volume_spec(message):
    """``study_pb2.VolumeSpec`` -> :class:`~spinerad.service.decode.VolumeSpec` (encoding None when unset)."""
    kind = message.WhichOneof("encoding")
    if kind == "raw":
        raw = message.raw
        encoding = RawEncoding(
            raw.dtype,
            tuple(raw.shape),
            tuple(raw.spacing),
            tuple(raw.origin),
            tuple(raw.direction),
            raw.compression,
        )
    elif kind == "file":
        encoding = FileEncoding(message.file.suffix)
    elif kind == "dicom":
        encoding = DicomEncoding(tuple(message.dicom.instance_bytes))
    elif kind in ("dicom_seg", "rtstruct"):
        encoding = DicomObjectEncoding(kind)
    else:
        encoding = None
    return VolumeSpec(message.total_bytes, encoding)


def _clinical_value(value):
    kind = value.WhichOneof("kind")
    return None if kind is None else getattr(value, kind)


def study_request(header):
    """``StudyHeader`` -> :class:`~spinerad.service.engine.StudyRequest`."""
    return StudyRequest(
        request_id=header.request_id,
        image=volume_spec(header.image),
        mask=volume_spec(header.mask),
        tasks=tuple(header.tasks),
        profile=header.extraction_profile,
        clinical={name: _clinical_value(value) for name, value in header.clinical.items()},
        label=header.label,
        modality=header.modality,
        show_label_outside_domain=header.show_label_outside_domain,
        segment=header.segment,
        roi=header.roi,
        return_dicom=header.return_dicom,
        seg_threshold=header.seg_threshold,
        series_uid=header.series_uid,
        reference=_reference(header),
        store_results=header.store_results,
    )


def _reference(header):
    if not header.HasField("reference"):
        return None
    from spinerad.pacs.dicomweb import Reference

    ref = header.reference
    return Reference(ref.endpoint, ref.study_instance_uid, ref.series_instance_uid, ref.roi_sop_instance_uid)


async def uploads(request_iterator):
    """``StudyUpload`` messages -> :class:`StudyRequest` headers and :class:`~.upload.Chunk` s."""
    async for message in request_iterator:
        kind = message.WhichOneof("kind")
        if kind == "header":
            yield study_request(message.header)
        elif kind == "chunk":
            chunk = message.chunk
            yield Chunk(_PARTS.get(chunk.part), chunk.offset, chunk.data)
        else:
            raise ProtocolError("empty StudyUpload message: set header or chunk")


# --- responses ----------------------------------------------------------------------------------------------


def to_value(obj):
    """Any JSON-like Python value (numpy scalars included) -> ``google.protobuf.Value``."""
    value = struct_pb2.Value()
    if obj is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, (bool, np.bool_)):
        value.bool_value = bool(obj)
    elif isinstance(obj, (int, float, np.integer, np.floating)):
        value.number_value = float(obj)
    elif isinstance(obj, str):
        value.string_value = obj
    elif isinstance(obj, dict):
        value.struct_value.SetInParent()
        for key, item in obj.items():
            value.struct_value.fields[str(key)].CopyFrom(to_value(item))
    elif isinstance(obj, (list, tuple, np.ndarray)):
        value.list_value.SetInParent()
        for item in obj:
            value.list_value.values.add().CopyFrom(to_value(item))
    else:
        value.string_value = str(obj)
    return value


def _float(value, default=math.nan):
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def prediction(pred):
    """A registry prediction dict -> ``Prediction``."""
    return events_pb2.Prediction(
        task=str(pred.get("task", "")),
        probability=_float(pred.get("probability")),
        label=str(pred.get("label") or ""),
        threshold=_float(pred.get("threshold")),
        model_id=str(pred.get("model_id", "")),
        model_version=str(pred.get("model_version", "")),
        validation=to_value(pred.get("validation")),
        top_contributions=[
            events_pb2.Contribution(
                feature=str(c.get("feature", "")), contribution=_float(c.get("contribution"))
            )
            for c in pred.get("top_contributions") or ()
        ],
        trained_on=to_value(pred.get("trained_on")),
        warnings=[str(w) for w in pred.get("warnings") or ()],
        positive_class=str(pred.get("positive_class", "")),
        label_withheld=bool(pred.get("label_withheld", False)),
        interpretation=str(pred.get("interpretation", "")),
        applicability=str(pred.get("applicability", "")),
        applicability_reasons=[str(r) for r in pred.get("applicability_reasons") or ()],
        domain_distance=_float(pred.get("domain_distance")),
        domain_threshold=_float(pred.get("domain_threshold")),
        domain_modality=str(pred.get("domain_modality") or ""),
        study_modality=str(pred.get("study_modality") or ""),
    )


def event(item):
    """An engine event -> ``AnalyzeEvent``."""
    out = events_pb2.AnalyzeEvent(request_id=item.request_id)
    if isinstance(item, Accepted):
        out.accepted.studies_ahead = item.studies_ahead
    elif isinstance(item, StageDone):
        out.stage_done.stage = item.stage
        out.stage_done.elapsed_ms = item.elapsed_ms
        if item.features:
            out.stage_done.features.update(item.features)
    elif isinstance(item, Predicted):
        out.prediction.CopyFrom(prediction(item.prediction))
    elif isinstance(item, Completed):
        out.completed.stage_ms.update(item.stage_ms)
        for name, sop_class, sop_instance, data in item.dicom_objects:
            out.completed.dicom_objects.add(
                name=name, sop_class_uid=sop_class, sop_instance_uid=sop_instance, data=data
            )
        out.completed.stored_sop_instance_uids.extend(item.stored)
    elif isinstance(item, Failed):
        code, message, _reference = status.describe(item.error)
        out.error.code = code
        out.error.message = message
    else:  # pragma: no cover - the engine emits only these
        raise TypeError(f"unknown event {type(item).__name__}")
    return out


def features_response(result):
    """:class:`~spinerad.service.engine.FeaturesResult` -> ``FeaturesResponse``."""
    return events_pb2.FeaturesResponse(
        request_id=result.request_id,
        features=result.features,
        stage_ms=result.stage_ms,
        settings_hash=result.settings_hash,
    )


def map_chunks(request_id, feature, image, chunk_bytes=1 << 20):
    """One feature map (SimpleITK image) -> its ``FeatureMapChunk`` messages (the grid in the first)."""
    import numpy as np
    import SimpleITK as sitk

    from spinerad.v1 import maps_pb2

    data = np.ascontiguousarray(sitk.GetArrayFromImage(image), dtype="<f8").tobytes()
    grid = maps_pb2.MapGrid(
        size=list(image.GetSize()),
        spacing=list(image.GetSpacing()),
        origin=list(image.GetOrigin()),
        direction=list(image.GetDirection()),
    )
    for offset in range(0, max(len(data), 1), chunk_bytes):
        yield maps_pb2.FeatureMapChunk(
            request_id=request_id,
            feature=feature,
            grid=grid if offset == 0 else None,
            offset=offset,
            total_bytes=len(data),
            data=data[offset : offset + chunk_bytes],
        )


def list_models_response(models, profiles, settings_hash):
    """The engine's model list -> ``ListModelsResponse``."""
    return events_pb2.ListModelsResponse(
        models=[events_pb2.ModelInfo(task=t, model_id=m, model_version=v) for t, m, v in models],
        extraction_profiles=profiles,
        settings_hash=settings_hash,
    )


def model_card(task, card):
    """A registry model card -> ``ModelCard``."""
    out = events_pb2.ModelCard(task=task)
    out.card.CopyFrom(to_value(dict(card)).struct_value)
    return out
