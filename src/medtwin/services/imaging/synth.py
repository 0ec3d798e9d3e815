"""Write a volume as a DICOM CT series with pydicom (synthetic phantoms for tests, demos and
benchmarks). Files are written in a shuffled order and numbered out of order on purpose, so
readers must sort by position. The patient is a fixed synthetic identity."""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from medtwin.models.imaging.volume import Volume


def write_series(
    vol: Volume,
    folder: Path,
    *,
    when: datetime,
    patient_id: str = "PHANTOM-1",
    study_uid: str | None = None,
    series_uid: str | None = None,
    description: str = "synthetic phantom",
    seed: int = 0,
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    a = vol.affine
    ps_row, ps_col = float(np.linalg.norm(a[:3, 1])), float(np.linalg.norm(a[:3, 2]))
    row_dir, col_dir = a[:3, 2] / ps_col, a[:3, 1] / ps_row
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    frame_uid = generate_uid()
    order = list(range(vol.shape[0]))
    random.Random(seed).shuffle(order)
    paths = []
    for n, k in enumerate(order):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"img{n:04d}.dcm"
        ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientID, ds.PatientName, ds.PatientBirthDate = patient_id, "Phantom^Synthetic", "19700101"
        ds.PatientSex, ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "O", "1", "", ""
        ds.Manufacturer = "medtwin synthetic phantom"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, n + 1
        ds.StudyDate, ds.StudyTime = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
        ds.TimezoneOffsetFromUTC = "+0000"
        ds.SeriesDescription, ds.StudyDescription = description, "CT phantom"
        ds.ImagePositionPatient = [float(x) for x in a[:3, 3] + k * a[:3, 0]]
        ds.ImageOrientationPatient = [float(x) for x in (*row_dir, *col_dir)]
        ds.PixelSpacing = [ps_row, ps_col]
        ds.SliceThickness = float(np.linalg.norm(a[:3, 0]))
        ds.Rows, ds.Columns = vol.shape[1], vol.shape[2]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.PixelData = (
            (np.asarray(vol.array[k], dtype=np.int32) + 1024).clip(0, 65535).astype("<u2").tobytes()
        )
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
