"""Build DICOM test objects at test time (never committed): image series, SEGs and RTSTRUCTs.

Series are written with pydicom from SimpleITK images (PyRadiomics' cases from ../shared, or synthetic);
SEGs with highdicom; RTSTRUCTs with pydicom from polygons (the contours of a label map's slices, traced
here on the voxel-corner grid so that the even-odd rasteriser must give the label map back).
"""

import datetime

import numpy as np
import pydicom
import SimpleITK as sitk
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"


def _meta(sop_class, sop_uid):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = generate_uid()
    return meta


def write_series(
    image,
    folder,
    modality="MR",
    study_uid=None,
    series_uid=None,
    for_uid=None,
    description="T1",
    patient_id="TEST-0001",
    names=None,
):
    """Write a 3-D SimpleITK image as single-frame MR/CT instances; return the datasets in z order."""
    folder.mkdir(parents=True, exist_ok=True)
    array = sitk.GetArrayFromImage(image).astype(np.int16)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    for_uid = for_uid or generate_uid()
    sop_class = MR_IMAGE_STORAGE if modality == "MR" else CT_IMAGE_STORAGE
    datasets = []
    for k in range(array.shape[0]):
        sop_uid = generate_uid()
        ds = Dataset()
        ds.file_meta = _meta(sop_class, sop_uid)
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = (
            "Test^Patient",
            patient_id,
            "19600101",
            "F",
        )
        ds.StudyInstanceUID, ds.StudyDate, ds.StudyTime, ds.StudyID = study_uid, "20260101", "120000", "1"
        ds.AccessionNumber, ds.ReferringPhysicianName, ds.StudyDescription = "ACC1", "", "spine MRI"
        ds.SeriesInstanceUID, ds.SeriesNumber, ds.Modality = series_uid, 3, modality
        ds.SeriesDescription = description
        ds.FrameOfReferenceUID, ds.PositionReferenceIndicator = for_uid, ""
        ds.Manufacturer = "test"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in image.TransformIndexToPhysicalPoint((0, 0, k))]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*direction[:, 0], *direction[:, 1])]
        ds.PixelSpacing = [f"{image.GetSpacing()[1]:.8f}", f"{image.GetSpacing()[0]:.8f}"]
        ds.SliceThickness = f"{image.GetSpacing()[2]:.6f}"
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = array.shape[1], array.shape[2]
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        if modality == "CT":
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "0", "1", "HU"
            ds.KVP = "120"
        else:
            ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = (
                "SE",
                "NONE",
                "",
                "3D",
            )
            ds.EchoTime, ds.RepetitionTime, ds.EchoTrainLength, ds.MagneticFieldStrength = (
                "10",
                "500",
                "1",
                "1.5",
            )
        ds.PixelData = array[k].tobytes()
        name = names[k] if names else f"slice{k:04d}.dcm"
        pydicom.dcmwrite(folder / name, ds, enforce_file_format=True)
        datasets.append(ds)
    return datasets


def label_box_crop(image, mask, margin=8):
    """Crop image and mask to the label's bounding box plus ``margin`` voxels in-plane (smaller test series)."""
    array = sitk.GetArrayViewFromImage(mask)
    z, y, x = np.nonzero(array)
    lo = [max(int(x.min()) - margin, 0), max(int(y.min()) - margin, 0), 0]
    hi = [
        min(int(x.max()) + margin + 1, array.shape[2]),
        min(int(y.max()) + margin + 1, array.shape[1]),
        array.shape[0],
    ]
    size = [h - lo_ for lo_, h in zip(lo, hi, strict=True)]
    return sitk.RegionOfInterest(image, size, lo), sitk.RegionOfInterest(mask, size, lo)


def seg_description(number, label):
    """A highdicom segment description (a lesion, manual)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label=label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )


def write_seg(
    datasets,
    segments,
    path,
    segmentation_type="BINARY",
    omit_empty_frames=True,
    series_number=100,
    manufacturer="test",
    frame_of_reference_uid=None,
    **kwargs,
):
    """Write a SEG over ``datasets``: ``segments`` maps number -> (label, (z, y, x) array: bool, or 0..1 floats).

    ``frame_of_reference_uid`` puts the SEG in another frame of reference than its source series.
    """
    import highdicom as hd

    numbers = sorted(segments)
    stacked = np.stack([np.asarray(segments[n][1]) for n in numbers], axis=-1)
    if segmentation_type == "LABELMAP":
        labels = np.zeros(stacked.shape[:-1], dtype=np.uint8)
        for index, number in enumerate(numbers):
            labels[stacked[..., index] > 0] = number
        stacked = labels
    elif segmentation_type == "BINARY":
        stacked = stacked.astype(bool)
    seg = hd.seg.Segmentation(
        source_images=datasets,
        pixel_array=stacked,
        segmentation_type=segmentation_type,
        segment_descriptions=[seg_description(n, segments[n][0]) for n in numbers],
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=manufacturer,
        manufacturer_model_name="test",
        software_versions="1",
        device_serial_number="1",
        omit_empty_frames=omit_empty_frames,
        **kwargs,
    )
    if frame_of_reference_uid is not None:
        seg.FrameOfReferenceUID = frame_of_reference_uid
    seg.save_as(path, enforce_file_format=True)
    return seg


def trace_outline(mask2d):
    """Closed polygons (x, y index units) along the voxel-corner boundary of a 2-D binary mask.

    Every boundary side of an inside voxel becomes an edge, then edges are joined into loops. Under the
    even-odd rule only the set of edges matters (not how they are joined), so holes and islands come out as
    their own loops.
    """
    inside = np.pad(np.asarray(mask2d, dtype=bool), 1)
    edges = {}
    ys, xs = np.nonzero(inside)
    for y, x in zip(ys, xs, strict=True):
        cx, cy = x - 1, y - 1  # back to unpadded indices
        corners = [(cx - 0.5, cy - 0.5), (cx + 0.5, cy - 0.5), (cx + 0.5, cy + 0.5), (cx - 0.5, cy + 0.5)]
        neighbours = [inside[y - 1, x], inside[y, x + 1], inside[y + 1, x], inside[y, x - 1]]
        for side, outside_neighbour in enumerate(neighbours):
            if not outside_neighbour:
                edges.setdefault(corners[side], []).append(corners[(side + 1) % 4])
    loops = []
    while edges:
        start = next(iter(edges))
        loop, point = [start], start
        while True:
            following = edges[point].pop()
            if not edges[point]:
                del edges[point]
            if following == start:
                break
            loop.append(following)
            point = following
        loops.append(np.array(loop))
    return loops


def write_rtstruct(
    datasets,
    image,
    rois,
    path,
    contour_image_sequence=True,
    series_uid_override=None,
    for_uid_override=None,
    z_shift=0.0,
):
    """Write an RTSTRUCT over ``datasets``: ``rois`` maps name -> (z, y, x) bool array, traced per slice."""
    first = datasets[0]
    sop_uid = generate_uid()
    ds = Dataset()
    ds.file_meta = _meta(RTSTRUCT_STORAGE, sop_uid)
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT_STORAGE, sop_uid
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyDate",
        "StudyTime",
        "StudyID",
        "AccessionNumber",
        "ReferringPhysicianName",
    ):
        setattr(ds, keyword, getattr(first, keyword))
    ds.Modality, ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = "RTSTRUCT", generate_uid(), 200, 1
    ds.Manufacturer, ds.OperatorsName = "test", ""
    now = datetime.datetime(2026, 1, 1, 12)
    ds.StructureSetLabel, ds.StructureSetDate, ds.StructureSetTime = "ROIs", now.strftime("%Y%m%d"), "120000"
    for_uid = for_uid_override or first.FrameOfReferenceUID
    contour_images = [_image_ref(d) for d in datasets]
    frame = Dataset()
    frame.FrameOfReferenceUID = for_uid
    study = Dataset()
    study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    study.ReferencedSOPInstanceUID = first.StudyInstanceUID
    series = Dataset()
    series.SeriesInstanceUID = series_uid_override or first.SeriesInstanceUID
    series.ContourImageSequence = contour_images
    study.RTReferencedSeriesSequence = [series]
    frame.RTReferencedStudySequence = [study]
    ds.ReferencedFrameOfReferenceSequence = [frame]
    ds.StructureSetROISequence, ds.ROIContourSequence, ds.RTROIObservationsSequence = [], [], []
    for number, (name, array) in enumerate(rois.items(), 1):
        roi = Dataset()
        roi.ROINumber, roi.ReferencedFrameOfReferenceUID, roi.ROIName = number, for_uid, name
        roi.ROIGenerationAlgorithm = "MANUAL"
        ds.StructureSetROISequence.append(roi)
        contours = []
        for k in range(array.shape[0]):
            for loop in trace_outline(array[k]):
                contour = Dataset()
                if contour_image_sequence:
                    contour.ContourImageSequence = [_image_ref(datasets[k])]
                contour.ContourGeometricType = "CLOSED_PLANAR"
                points = [
                    image.TransformContinuousIndexToPhysicalPoint((float(x), float(y), k + z_shift))
                    for x, y in loop
                ]
                contour.NumberOfContourPoints = len(points)
                contour.ContourData = [f"{v:.6f}" for point in points for v in point]
                contours.append(contour)
        item = Dataset()
        item.ReferencedROINumber, item.ROIDisplayColor = number, [255, 0, 0]
        item.ContourSequence = contours
        ds.ROIContourSequence.append(item)
        observation = Dataset()
        observation.ObservationNumber, observation.ReferencedROINumber = number, number
        observation.RTROIInterpretedType, observation.ROIInterpreter = "GTV", ""
        ds.RTROIObservationsSequence.append(observation)
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return ds


def _image_ref(dataset):
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = dataset.SOPClassUID, dataset.SOPInstanceUID
    return ref


def dice(a, b):
    """Dice coefficient of two binary arrays."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))
