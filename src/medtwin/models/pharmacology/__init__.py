"""Pharmacokinetics and pharmacodynamics, pure and vectorised (no I/O).

* :mod:`.linear`: exact solution of linear 1-3 compartment models with effect site and oral depot;
* :mod:`.regimen`: doses; :mod:`.predict`: a population model at a patient's covariates;
* :mod:`.covariates`: body size, Cockcroft-Gault, CKD-EPI 2021; :mod:`.pd`: sigmoid Emax, Bouillon;
* :mod:`.variability`: IIV and residual error; :mod:`.bayes`: MAP + Laplace personalisation;
* :mod:`.metrics`, :mod:`.compare`: exposure, target attainment, regimen ranking, dose suggestion;
* :mod:`.identifiability`: confidence of a counterfactual prediction;
* :mod:`.library`: the drug library (propofol, remifentanil, vancomycin, gentamicin, lithium).
"""
