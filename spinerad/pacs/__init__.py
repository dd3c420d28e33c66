"""PACS transport: a DICOM node (Storage SCP) that analyses pushed studies, and DICOMweb fetch/store."""
