"""Treatment simulation (issue 7): personalised PK/PD and glucose twins, regimen comparison.

* :mod:`.records`: covariates, doses and levels of a patient twin from the store;
* :mod:`.pk`: fit (MAP + Laplace, stored with provenance), fit curves, regimen comparison runs;
* :mod:`.glucose`: the glucose-insulin twin from CGM, carbohydrate and insulin records;
* :mod:`.service`: refits when new levels (or creatinine) arrive;
* :mod:`.repository`: the fits and runs tables; :mod:`.fanout`: optional Dask fan-out.
"""
