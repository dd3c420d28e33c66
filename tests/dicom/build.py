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


def write_series(image, folder, modality="MR", study_uid=None, series_uid=None, for_uid=None, description="T1",
                 patient_id="TEST-0001", names=None):
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
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Patient", patient_id, "19600101", "F"
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
            ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "SE", "NONE", "", "3D"
            ds.EchoTime, ds.RepetitionTime, ds.EchoTrainLength, ds.MagneticFieldStrength = "10", "500", "1", "1.5"
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
    hi = [min(int(x.max()) + margin + 1, array.shape[2]), min(int(y.max()) + margin + 1, array.shape[1]), array.shape[0]]
    size = [h - lo_ for lo_, h in zip(lo, hi)]
    return sitk.RegionOfInterest(image, size, lo), sitk.RegionOfInterest(mask, size, lo)
