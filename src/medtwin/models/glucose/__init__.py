"""Glucose-insulin twin for type 1 diabetes: the UVA/Padova (2008) model, pure and vectorised.

* :mod:`.cohort`: the 30 open virtual patients (simglucose's parameter files, MIT);
* :mod:`.uva_padova`: the model and its vectorised integrator; :mod:`.scenario`: meals, insulin;
* :mod:`.cgm`: sensor error; :mod:`.metrics`: time in ranges, CV, LBGI/HBGI;
* :mod:`.fit`: personalisation from CGM and insulin records (template + MAP + Laplace);
* :mod:`.compare`: insulin regimen comparison over the posterior.
"""
