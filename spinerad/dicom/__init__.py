"""DICOM-native study objects: the one series reader, SEG/RTSTRUCT masks in, SEG + TID 1500 SR results and
feature-map Parametric Maps (:mod:`spinerad.dicom.maps`) out."""

from .series import DicomSeries, read_series
from .study import Study, load_study

__all__ = ["DicomSeries", "Study", "load_study", "read_series"]
