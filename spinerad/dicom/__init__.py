"""DICOM-native study objects: the one series reader, masks in, results out.

Masks in: SEG and RTSTRUCT. Results out: SEG + TID 1500 SR and feature-map Parametric Maps
(:mod:`spinerad.dicom.maps`).
"""

from .series import DicomSeries, read_series
from .study import Study, load_study

__all__ = ["DicomSeries", "Study", "load_study", "read_series"]
