"""The published sources the triage rules cite (``source`` keys of the rule set).

Each threshold in :data:`medtwin.models.triage.rules.DEFAULT_RULES` names one of these; a
hospital adding rules adds its own sources in the same table (``sources`` in its rule file).
"""

from __future__ import annotations

SOURCES: dict[str, str] = {
    "acc_aha_2017": (
        "Whelton PK et al. 2017 ACC/AHA guideline for the prevention, detection, evaluation and "
        "management of high blood pressure in adults. Hypertension 2018;71:e13-e115 (BP categories; "
        "hypertensive crisis > 180 and/or > 120 mmHg: emergency with new or worsening target-organ "
        "damage, otherwise urgency; treated-hypertension target < 130/80; home BP 135/85 corresponds "
        "to office 140/90)"
    ),
    "esh_2021_hbpm": (
        "Stergiou GS et al. 2021 European Society of Hypertension practice guidelines for office and "
        "out-of-office blood pressure measurement. J Hypertens 2021;39:1293-1302 (home monitoring over "
        "7 days, at least 3 days, morning and evening)"
    ),
    "ada_2025_s6": (
        "American Diabetes Association. 6. Glycemic goals and hypoglycemia: Standards of Care in "
        "Diabetes-2025. Diabetes Care 2025;48(Suppl 1) (hypoglycaemia level 1 < 70 and >= 54 mg/dL, "
        "level 2 < 54 mg/dL, level 3 a severe event needing assistance)"
    ),
    "battelino_2019": (
        "Battelino T et al. Clinical targets for continuous glucose monitoring data interpretation: "
        "recommendations from the International Consensus on Time in Range. Diabetes Care "
        "2019;42:1593-1603 (TIR 70-180 > 70 %, < 70 below 4 %, < 54 below 1 %, > 180 below 25 %, "
        "> 250 below 5 %; older/high-risk: TIR > 50 %, < 70 below 1 %, > 250 below 10 %; 14 days "
        "with >= 70 % data; events last >= 15 min)"
    ),
    "umpierrez_2024": (
        "Umpierrez GE et al. Hyperglycemic crises in adults with diabetes: a consensus report. "
        "Diabetes Care 2024;47:1257-1275 (hyperosmolar hyperglycaemic state: glucose >= 600 mg/dL)"
    ),
    "nhs_oximetry_home": (
        "NHS England. COVID Oximetry @home standard operating procedure (2020-21): SpO2 <= 92 % call "
        "999 / A&E; 93-94 % GP or NHS 111 the same day; >= 95 % continue monitoring. Not for people "
        "with chronic lung disease, who need individual thresholds"
    ),
    "bts_2017": (
        "O'Driscoll BR et al. BTS guideline for oxygen use in adults in healthcare and emergency "
        "settings. Thorax 2017;72(Suppl 1):ii1-ii90 (target 88-92 % when at risk of hypercapnic "
        "respiratory failure, e.g. COPD)"
    ),
    "news2": (
        "Royal College of Physicians. National Early Warning Score (NEWS) 2, 2017: Chart 1 parameter "
        "scores (pulse <= 40 or >= 131: 3, 111-130: 2; temperature <= 35.0: 3, >= 39.1: 2; systolic "
        "<= 90: 3, 91-100: 2; SpO2 Scale 2 <= 83 %: 3); a single parameter scoring 3 needs an urgent "
        "response"
    ),
    "mcgeer_2012": (
        "Stone ND et al. Surveillance definitions of infections in long-term care facilities: "
        "revisiting the McGeer criteria. Infect Control Hosp Epidemiol 2012;33:965-977 (fever: single "
        "oral temperature > 37.8 C, repeated > 37.2 C, or > 1.1 C over baseline)"
    ),
    "esc_hfa_2021": (
        "Jaarsma T et al. Self-care of heart failure patients: practical management recommendations "
        "from the Heart Failure Association of the ESC. Eur J Heart Fail 2021;23:157-174; ESC HFA "
        "patient advice (heartfailurematters.org): weigh daily, tell your doctor or nurse about a "
        "weight gain of more than 2 kg in 3 days"
    ),
    "fleming_2008": (
        "Fleming J, Brayne C. Inability to get up after falling, subsequent time on floor, and "
        "summoning help: prospective cohort study in people over 90. BMJ 2008;337:a2227 (long lie: "
        "on the floor for an hour or more; 82 % of falls happened when alone)"
    ),
    "floeck_2009": (
        "Floeck M, Litz L. Inactivity patterns and alarm generation in senior citizens' houses. "
        "European Control Conference 2009 (inactivity alarms against the person's own inactivity "
        "profile); Cuddihy P et al. Algorithm to automatically detect abnormally long periods of "
        "inactivity in a home. HealthNet 2007"
    ),
    "shewhart_spc": (
        "Shewhart control limits: mean +/- 3 standard deviations of the patient's own baseline, "
        "estimated from at least 20 points (Montgomery DC. Introduction to Statistical Quality "
        "Control, 8th ed., Wiley 2019, ch. 6). A statistical signal, not a clinical threshold"
    ),
    "sglt2_label": (
        "SGLT2 inhibitor prescribing information (e.g. empagliflozin, section 7: positive urine "
        "glucose test; monitoring glycaemic control with urine glucose tests is not recommended)"
    ),
    "ada_2025_s2": (
        "American Diabetes Association. 2. Diagnosis and classification of diabetes: Standards of "
        "Care in Diabetes-2025 (diagnosis by plasma glucose or HbA1c; glycosuria is not diagnostic)"
    ),
    "device_battery": (
        "Device low-battery flag, else <= 20 % (the urgent uploader-battery level of Nightscout, "
        "cgm-remote-monitor); see medtwin.devices.wearable"
    ),
    "schedule": (
        "The measurement schedule set at enrolment (defaults: home BP morning and evening, ACC/AHA "
        "2017 and ESH 2021; daily weight in heart failure, ESC HFA 2021); a gap is at least one "
        "whole expected interval without a reading"
    ),
}
