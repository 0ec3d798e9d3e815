"""Imaging in the twin (issue 11): DICOM/NIfTI/Slicer/DICOM SEG import, segmentation, measurements,
lesion tracking with RECIST 1.1, transplant follow-up, meshes, and surgery planning.

Pure geometry lives in :mod:`medtwin.models.imaging`; this package does the I/O (files, store,
observations through the ingestor). See docs/imaging.md.
"""
