"""Case content per condition: the narrative a case author writes (presenting complaint, history,
examination), laboratory values and reports the virtual patient does not compute, the treatment a
team typically gives (used for synthetic cases, which have no real record) and teaching points.

A case built from a real twin takes its profile, vital-sign and laboratory timeline, treatment and
outcome from the twin's de-identified record and only the narrative from here; the educator edits
it. The narratives are synthetic and contain no personal data. Laboratory values are case content
(what this synthetic patient has), not thresholds.
"""

from __future__ import annotations

from typing import Any

T = dict[str, Any]

TEMPLATES: dict[str, T] = {
    "sepsis": {
        "title": "Fever, confusion and low blood pressure",
        "specialty": "emergency medicine",
        "difficulty": "intermediate",
        "presenting": "Brought in by ambulance: two days of fever and rigors, new confusion since this morning.",
        "history": "Burning on passing urine for three days. Type 2 diabetes on metformin. No allergies known. "
        "Lives independently; normally fully orientated.",
        "examination": "Hot, flushed peripheries, capillary refill 3 s. Disorientated to time. Chest clear. "
        "Suprapubic tenderness, renal angle tenderness on the right. No rash, no neck stiffness.",
        "labs": {"wbc": 18.4, "platelets": 142, "creatinine": 1.9, "sodium": 134, "potassium": 4.6, "crp": 212,
                 "pt": 14.5, "fibrinogen": 5.1},
        "reports": {
            "blood_cultures": "Gram-negative bacilli in 2 of 2 bottles (reported the next day).",
            "urine_dipstick": "Leucocytes +++, nitrites positive, blood +.",
            "chest_xray": "No consolidation. Normal heart size.",
            "ecg": "Sinus tachycardia; no acute ischaemic change.",
        },
        "real_treatment": [
            (8, "antibiotics", {"drug": "piperacillin-tazobactam"}),
            (10, "fluids", {"volume": 1000, "minutes": 30}),
            (40, "fluids", {"volume": 1000, "minutes": 30}),
            (75, "vasopressor", {"rate": 0.1}),
        ],
        "outcome": "Admitted to critical care; norepinephrine weaned within 24 h; discharged home on day 6.",
        "teaching": [
            ("Give antimicrobials within 1 h when septic shock is possible.", "ssc2021"),
            ("Each hour of delay to effective antibiotics lowered survival in septic shock.", "kumar2006"),
            ("30 mL/kg crystalloid within 3 h for sepsis-induced hypoperfusion; norepinephrine to a MAP of "
             "65 mmHg.", "ssc2021"),
        ],
    },
    "haemorrhage": {
        "title": "Black stools and collapse",
        "specialty": "surgery",
        "difficulty": "intermediate",
        "presenting": "Collapsed at home after passing black, tarry stools twice; vomited blood once.",
        "history": "Takes ibuprofen daily for knee pain and aspirin 75 mg. Drinks 20 units of alcohol a week. "
        "No previous bleeding.",
        "examination": "Pale, clammy, anxious. Capillary refill 4 s. Epigastric tenderness. Melaena on rectal "
        "examination.",
        "labs": {"wbc": 11.2, "platelets": 210, "creatinine": 1.1, "sodium": 138, "potassium": 4.2, "crp": 8,
                 "pt": 13.0, "fibrinogen": 2.4},
        "reports": {
            "group_and_crossmatch": "Group O positive; 4 units crossmatched and available.",
            "ecg": "Sinus tachycardia.",
            "chest_xray": "No free gas under the diaphragm.",
            "ct_abdomen": "No free fluid; active extravasation not seen (endoscopy advised).",
        },
        "real_treatment": [
            (5, "fluids", {"volume": 500, "minutes": 15}),
            (12, "tranexamic_acid", {}),
            (20, "transfusion", {"units": 2}),
            (25, "haemorrhage_control", {}),
        ],
        "outcome": "Endoscopy: bleeding duodenal ulcer, treated endoscopically. Four units in total; home on day 5.",
        "teaching": [
            ("Permissive hypotension (SBP 80-90 mmHg) until the bleeding is controlled; early red cells.", "spahn2019"),
            ("Tranexamic acid helps when given within 3 h.", "crash2"),
            ("1.5 L or more of crystalloid in the emergency department was associated with higher mortality.", "ley2011"),
        ],
    },
    "hypoglycaemia": {
        "title": "Drowsy and sweaty",
        "specialty": "endocrinology",
        "difficulty": "introductory",
        "presenting": "Found by a flatmate drowsy, sweating and slurring words.",
        "history": "Type 1 diabetes for 12 years on basal-bolus insulin. Took the evening rapid-acting insulin, "
        "then did not eat. No alcohol today.",
        "examination": "Sweaty, pale, tremulous; confused, obeys simple commands. No focal neurology. "
        "Swallow not assessed.",
        "labs": {"wbc": 8.1, "platelets": 250, "creatinine": 0.9, "sodium": 139, "potassium": 3.9, "crp": 2},
        "reports": {"ecg": "Sinus tachycardia.", "ct_head": "Normal.", "urine_dipstick": "Glucose negative, ketones negative."},
        "real_treatment": [(6, "glucose_iv", {"grams": 15, "minutes": 10}), (30, "glucose_iv", {"grams": 10, "minutes": 10})],
        "outcome": "Recovered fully within 20 minutes; ate a meal; insulin dose reviewed; discharged the same night.",
        "teaching": [
            ("Check the capillary glucose in anyone with altered consciousness.", "jbds_hypo"),
            ("Unconscious or unable to swallow: IV glucose, nothing by mouth; recheck after 10-15 min.", "jbds_hypo"),
            ("Level 2 hypoglycaemia is < 54 mg/dL; level 3 is any event with altered mental status.", "ada2024"),
        ],
    },
    "opioid_overdose": {
        "title": "Unresponsive in a public toilet",
        "specialty": "emergency medicine",
        "difficulty": "introductory",
        "presenting": "Found unresponsive with a syringe nearby; snoring respirations.",
        "history": "No history available from the patient. Paramedics report pinpoint pupils.",
        "examination": "Responds to pain only. Pupils 1 mm, equal. Slow, shallow breathing. Injection marks "
        "on both forearms. No signs of trauma.",
        "labs": {"wbc": 7.5, "platelets": 230, "creatinine": 0.8, "sodium": 140, "potassium": 4.0, "crp": 3},
        "reports": {"toxicology": "Fentanyl detected.", "ecg": "Sinus rhythm.", "ct_head": "Normal.",
                    "chest_xray": "Clear lungs."},
        "real_treatment": [
            (1, "ventilate", {"on": 1}),
            (1, "oxygen", {"device": "reservoir_mask", "flow": 15}),
            (3, "naloxone", {"dose": 0.4}),
            (6, "naloxone", {"dose": 0.8}),
            (10, "ventilate", {"on": 0}),
        ],
        "outcome": "Woke after the second dose; observed for 6 hours; one further dose needed at 40 minutes; "
        "discharged with take-home naloxone.",
        "teaching": [
            ("Open the airway and support ventilation first; give naloxone.", "who_opioid2014"),
            ("The duration of some opioids exceeds that of naloxone: observe and repeat.", "naloxone_label"),
        ],
    },
    "acute_heart_failure": {
        "title": "Breathless at night",
        "specialty": "cardiology",
        "difficulty": "intermediate",
        "presenting": "Woke at 03:00 acutely breathless, unable to lie flat, coughing frothy sputum.",
        "history": "Myocardial infarction six years ago. Hypertension. Ran out of his tablets last week.",
        "examination": "Sitting upright, sweaty, speaking in short sentences. Raised JVP. Bilateral crackles to "
        "the mid-zones. Third heart sound. Pitting ankle oedema.",
        "labs": {"wbc": 9.8, "platelets": 260, "creatinine": 1.3, "sodium": 136, "potassium": 4.4, "crp": 12,
                 "troponin": 38, "ntprobnp": 5400},
        "reports": {"ecg": "Sinus tachycardia, old Q waves in V1-V3, no new ST elevation.",
                    "chest_xray": "Upper-lobe diversion, bilateral alveolar oedema, small effusions."},
        "real_treatment": [
            (3, "oxygen", {"device": "nasal_cannula", "flow": 4}),
            (10, "furosemide", {"dose": 40}),
            (15, "nitrate", {"rate": 30}),
            (20, "cpap", {"peep": 7.5}),
        ],
        "outcome": "Improved on CPAP and diuretics within 2 hours; discharged on day 4 with restarted therapy.",
        "teaching": [
            ("Loop diuretic early; oxygen if SpO2 < 90 %; NIV in respiratory distress.", "esc2021_hf"),
            ("Door-to-furosemide under 60 min was associated with lower in-hospital mortality.", "matsue2017"),
            ("Avoid fluids and vasopressors outside cardiogenic shock; vasodilators only if SBP > 110 mmHg.",
             "esc2021_hf"),
        ],
    },
    "respiratory_failure": {
        "title": "Cough, fever and breathlessness",
        "specialty": "respiratory medicine",
        "difficulty": "introductory",
        "presenting": "Four days of productive cough and fever; breathless on minimal exertion since today.",
        "history": "Ex-smoker; no known lung disease. Lives with partner. No recent travel.",
        "examination": "Tachypnoeic, using accessory muscles. Bronchial breathing and crackles at the right base.",
        "labs": {"wbc": 16.2, "platelets": 310, "creatinine": 1.0, "sodium": 135, "potassium": 4.1, "crp": 180},
        "reports": {"chest_xray": "Right lower-lobe consolidation.", "ecg": "Sinus rhythm.",
                    "blood_cultures": "No growth at 48 h."},
        "real_treatment": [
            (4, "oxygen", {"device": "venturi", "fio2": 35}),
            (30, "antibiotics", {"drug": "co-amoxiclav"}),
            (60, "oxygen", {"device": "venturi", "fio2": 40}),
        ],
        "outcome": "Oxygen weaned over three days; completed antibiotics; home on day 5.",
        "teaching": [
            ("Target SpO2 94-98 % (88-92 % if at risk of hypercapnia).", "bts_oxygen"),
            ("Antibiotic within 4 h of the diagnosis of pneumonia (1 h if septic).", "nice_ng138"),
        ],
    },
}  # fmt: skip


def template(condition: str) -> T:
    return TEMPLATES[condition]
