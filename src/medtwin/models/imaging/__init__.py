"""Pure imaging geometry (no I/O): volumes and label maps in patient space, series geometry,
segmentation tools, measurements, RECIST 1.1, transplant follow-up, meshes, resection planning.

Coordinates are DICOM patient coordinates (LPS: +x left, +y posterior, +z superior) in mm.
A volume's ``affine`` maps an index in *array axis order* ``(a0, a1, a2, 1)`` to LPS mm; for a
DICOM series the axes are (slice, row, column), the same convention as highdicom's volumes.
"""
