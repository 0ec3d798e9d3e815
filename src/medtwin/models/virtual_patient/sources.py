"""The sources the virtual patient and the training scores rest on (key -> citation).

Modules cite these keys next to the numbers they take from them; the API and the feedback report
show the citation text. A magnitude without a key here is a modelling choice and says so.
"""

from __future__ import annotations

SOURCES: dict[str, str] = {
    # --- physiology
    "atls": "American College of Surgeons. ATLS Student Course Manual, 9th ed. 2012, Table 3-1 "
    "(classes of haemorrhagic shock; blood volume ~70 mL/kg in adults); 10th ed. 2018 (1 L initial "
    "crystalloid, early blood products)",
    "west": "West JB. Respiratory Physiology: The Essentials, 9th ed. 2012 (alveolar gas equation, "
    "O2 content, shunt and Fick principle; normal anatomical shunt 2-5 %)",
    "severinghaus": "Severinghaus JW. Simple, accurate equations for human blood O2 dissociation "
    "computations. J Appl Physiol 1979;46:599-602",
    "bouillon2003": "Bouillon T, Bruhn J, Radu-Radulescu L et al. A model of the ventilatory depressant "
    "potency of remifentanil in the non-steady state. Anesthesiology 2003;99:779-787 (PaCO2 indirect "
    "response with CO2 feedback: F 4.30, ke0 CO2 0.92/min, baseline PaCO2 42.4 mmHg, VE 7.06 L/min, "
    "kel 0.08/min, Hill 1.25)",
    "algera2021": "Algera MH, Olofsen E, Moss L et al. Tolerance to opioid-induced respiratory "
    "depression in chronic high-dose opioid users: a model-based comparison with opioid-naive "
    "individuals. Clin Pharmacol Ther 2021;109:637-645 (fentanyl C50 for 50 % ventilatory depression "
    "0.42 ng/mL naive, 1.82 ng/mL chronic users; apnoea after 225-475 ug/70 kg in naive subjects)",
    "shafer1990": "Shafer SL, Varvel JR, Aziz N, Scott JC. Pharmacokinetics of fentanyl administered by "
    "computer-controlled infusion pump. Anesthesiology 1990;73:1091-1102 (V1 12.1, V2 35.7, V3 224 L; "
    "CL 0.632, Q2 2.8, Q3 1.55 L/min per 70 kg; time to peak effect 3.694 min, Shafer/Varvel)",
    "dowling2008": "Dowling J, Isbister GK, Kirkpatrick CM et al. Population pharmacokinetics of "
    "intravenous, intramuscular, and intranasal naloxone in human volunteers. Ther Drug Monit "
    "2008;30:490-496 (CL 91 L/h, V1 2.87 L, V2 1.49 L, V3 33.6 L, Q2 5.66 L/h, Q3 29.8 L/h)",
    "yassen2007": "Yassen A, Olofsen E, van Dorp E et al. Mechanism-based PK-PD modelling of the "
    "reversal of buprenorphine-induced respiratory depression by naloxone. Clin Pharmacokinet "
    "2007;46:965-980 (naloxone biophase equilibration half-life 6.5 min; competitive interaction)",
    "melichar2003": "Melichar JK, Nutt DJ, Malizia AL. Naloxone displacement at opioid receptor sites "
    "measured in vivo in the human brain. Eur J Pharmacol 2003;459:217-219 (~13 ug/kg IV naloxone "
    "for ~50 % receptor occupancy)",
    "beloeil2005": "Beloeil H, Mazoit JX, Benhamou D, Duranteau J. Norepinephrine kinetics and dynamics "
    "in septic shock and trauma patients. Br J Anaesth 2005;95:782-788 (V 8.84 L, CL 59.6/SAPS II "
    "L/min; MAP Emax 98.7 mmHg, C50 70.4 nmol/L, Hill 1.8, as implemented in the Python Anesthesia "
    "Simulator, Aubouin-Pairault et al. JOSS 2023;8:5480)",
    "dallaman2007": "Dalla Man C, Rizza RA, Cobelli C. Meal simulation model of the glucose-insulin "
    "system. IEEE Trans Biomed Eng 2007;54:1740-1749; type 1 parameters of the UVA/Padova 2008 "
    "simulator (Kovatchev BP et al. J Diabetes Sci Technol 2009;3:44-55)",
    "mitrakou1991": "Mitrakou A, Ryan C, Veneman T et al. Hierarchy of glycemic thresholds for "
    "counterregulatory hormone secretion, symptoms, and cerebral dysfunction. Am J Physiol "
    "1991;260:E67-E74 (adrenaline ~ 3.8 mmol/L, symptoms ~ 3.0 mmol/L, cognitive dysfunction "
    "~ 2.7 mmol/L)",
    "hahn2010": "Hahn RG. Volume kinetics for infusion fluids. Anesthesiology 2010;113:470-481 "
    "(crystalloid distributes from plasma to the interstitium within ~30 min; a minority remains "
    "intravascular)",
    "michard2002": "Michard F, Teboul JL. Predicting fluid responsiveness in ICU patients. Chest "
    "2002;121:2000-2008 (about half of haemodynamically unstable patients respond to fluid)",
    "lasix_label": "Furosemide injection, US prescribing information (IV onset within 5 min, peak "
    "within 30 min, duration about 2 h)",
    "naloxone_label": "Naloxone hydrochloride injection, US prescribing information (IV onset within "
    "2 min; duration of some opioids exceeds that of naloxone; titrate 0.4-2 mg)",
    "blood_components": "JPAC. Guidelines for the Blood Transfusion Services in the UK, 8th ed., "
    "section 7 (red cells in additive solution: ~280 mL, haematocrit 0.50-0.70)",
    "gray2008": "Gray A, Goodacre S, Newby DE et al. Noninvasive ventilation in acute cardiogenic "
    "pulmonary edema (3CPO). N Engl J Med 2008;359:142-151 (CPAP/NIPPV: faster improvement in "
    "dyspnoea, heart rate, acidosis and hypercapnia)",
    "bts_oxygen": "O'Driscoll BR, Howard LS, Earis J, Mak V. BTS guideline for oxygen use in adults in "
    "healthcare and emergency settings. Thorax 2017;72:i1-i90 (target SpO2 94-98 %, 88-92 % if at "
    "risk of hypercapnia; approximate FiO2 of delivery devices)",
    # --- guidelines behind the checklists and time targets
    "ssc2021": "Evans L, Rhodes A, Alhazzani W et al. Surviving Sepsis Campaign: international "
    "guidelines for management of sepsis and septic shock 2021. Crit Care Med 2021;49:e1063-e1143 "
    "(antimicrobials within 1 h for possible septic shock; 30 mL/kg crystalloid within 3 h for "
    "hypoperfusion; norepinephrine first line; MAP target 65 mmHg; measure lactate)",
    "kumar2006": "Kumar A, Roberts D, Wood KE et al. Duration of hypotension before initiation of "
    "effective antimicrobial therapy is the critical determinant of survival in human septic shock. "
    "Crit Care Med 2006;34:1589-1596 (each hour of delay: survival -7.6 %)",
    "spahn2019": "Spahn DR, Bouillon B, Cerny V et al. The European guideline on management of major "
    "bleeding and coagulopathy following trauma: fifth edition. Crit Care 2019;23:98 (permissive "
    "hypotension SBP 80-90 mmHg until bleeding is controlled; early red cells; tranexamic acid "
    "within 3 h; vasopressors only when fluids fail)",
    "crash2": "CRASH-2 collaborators. The importance of early treatment with tranexamic acid in "
    "bleeding trauma patients. Lancet 2011;377:1096-1101 (benefit when given within 3 h)",
    "ley2011": "Ley EJ, Clond MA, Srour MK et al. Emergency department crystalloid resuscitation of "
    "1.5 L or more is associated with increased mortality in elderly and nonelderly trauma patients. "
    "J Trauma 2011;70:398-400",
    "jbds_hypo": "Joint British Diabetes Societies for Inpatient Care. The hospital management of "
    "hypoglycaemia in adults with diabetes mellitus, revised 2021 (check capillary glucose; "
    "unconscious or unable to swallow: IV glucose, nothing by mouth; recheck after 10-15 min; "
    "glucose < 4.0 mmol/L = 72 mg/dL treated as hypoglycaemia)",
    "ada2024": "American Diabetes Association. Standards of Care in Diabetes 2024, section 6 "
    "(hypoglycaemia level 1 < 70 mg/dL, level 2 < 54 mg/dL, level 3 altered mental or physical "
    "status needing assistance)",
    "who_opioid2014": "World Health Organization. Community management of opioid overdose. Geneva: "
    "WHO 2014 (airway and ventilation, oxygen, naloxone; observe for recurrence)",
    "aha2020_opioid": "Panchal AR, Bartos JA, Cabanas JG et al. Part 3: Adult basic and advanced life "
    "support. 2020 AHA Guidelines. Circulation 2020;142:S366-S468 (opioid-associated emergency: "
    "support ventilation, give naloxone)",
    "esc2021_hf": "McDonagh TA, Metra M, Adamo M et al. 2021 ESC guidelines for the diagnosis and "
    "treatment of acute and chronic heart failure. Eur Heart J 2021;42:3599-3726 (oxygen if SpO2 "
    "< 90 %; NIV in respiratory distress; IV loop diuretics; vasodilators if SBP > 110 mmHg, avoid "
    "if < 90 mmHg; inotropes/vasopressors only in cardiogenic shock)",
    "matsue2017": "Matsue Y, Damman K, Voors AA et al. Time-to-furosemide treatment and mortality in "
    "patients hospitalized with acute heart failure (REALITY-AHF). J Am Coll Cardiol "
    "2017;69:3042-3051 (door-to-furosemide < 60 min associated with lower in-hospital mortality)",
    "nice_ng138": "NICE guideline NG138. Pneumonia (community-acquired): antimicrobial prescribing. "
    "2019 (antibiotic within 4 h of establishing the diagnosis; within 1 h if sepsis)",
    "rcp_news2": "Royal College of Physicians. National Early Warning Score (NEWS) 2. London: RCP "
    "2017 (Charts 1, 2 and 4)",
    "medbiq_vp": "MedBiquitous Virtual Patient Standard, ANSI/MEDBIQ VP.10.1-2010 (data "
    "availability model: progressive disclosure; activity model: nodes, links, counters, rules)",
}


def cite(*keys: str) -> list[dict[str, str]]:
    """The citations of ``keys`` as ``[{"key", "text"}]`` (unknown keys raise KeyError)."""
    return [{"key": k, "text": SOURCES[k]} for k in keys]
