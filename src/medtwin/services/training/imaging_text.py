"""Imaging study descriptions in training cases: kept only when every word is imaging vocabulary.

A study description (DICOM StudyDescription, 0008,1030) is free text typed at the scanner or the
RIS. It may carry the patient's name, a referrer's or radiographer's name, an accession number, a
site or a date, and HIPAA Safe Harbor counts free text that can hold identifiers as identifying
(45 CFR 164.514(b)(2)(i)(R)). The identifier guard (:mod:`.guard`) only knows the source patient's
own identifiers, so descriptions are filtered by an allow-list instead: a description is kept
when every word in it is a modality, an anatomical region, a technique or a small number (views,
phases); otherwise the study is kept with its modality and time and no description. "CT abdomen and pelvis with contrast"
passes; "CT head ref Dr Okafor ACC 99817263" does not.
"""

from __future__ import annotations

import re

_WORDS = """
ct mr mri us xr cr dx rf nm pt pet spect mg xa dr sr ot cta mra mrcp ercp kub echo tte toe tee
x ray xray radiograph radiographs radiography film films ultrasound sonography sonogram doppler duplex
fluoroscopy angiography angiogram venogram venography arteriography mammogram mammography tomography
computed magnetic resonance nuclear medicine scintigraphy scan scans study series imaging exam examination
head brain skull face facial orbit orbits sinus sinuses neck cervical thoracic lumbar sacral sacrum coccyx
spine spinal whole body chest thorax lung lungs pulmonary pleural mediastinum heart cardiac coronary
aorta aortic abdomen abdominal pelvis pelvic liver hepatic biliary gallbladder pancreas pancreatic spleen
kidney kidneys renal ureter ureters bladder urinary tract prostate uterus ovary ovaries adrenal bowel
colon colonic rectum small large mesenteric portal carotid vertebral femoral iliac popliteal venous
arterial artery arteries vein veins vessel vessels extremity extremities upper lower limb limbs arm arms
leg legs hip hips knee knees shoulder shoulders elbow wrist hand hands ankle foot feet bone bones joint
joints soft tissue tissues trauma
with without w wo contrast iv oral enhanced unenhanced non nonenhanced plain native and or of the for
to plus left right bilateral both ap pa lat lateral oblique frontal supine erect upright decubitus
portable mobile bedside view views single double axial coronal sagittal thin slice slices multiphase
phase phases triple dual delayed early late perfusion diffusion dwi flair protocol routine standard
urgent emergency follow up followup screening staging survey limited complete focused fast efast
guided biopsy drainage pe embolism stroke bleed haemorrhage hemorrhage obstruction collection
"""
ALLOWED = frozenset(_WORDS.split())
_TOKEN = re.compile(r"[A-Za-z]+|[0-9]+")


def allowed(description: str) -> bool:
    """True when every word of ``description`` is imaging vocabulary (numbers up to two digits)."""
    for tok in _TOKEN.findall(description):
        if tok.isdigit():
            if len(tok) > 2:
                return False
        elif tok.lower() not in ALLOWED:
            return False
    return True


def clean(description: str | None) -> tuple[str, bool]:
    """(the description the case shows, whether the original text was withheld)."""
    text = (description or "").strip()
    if not text:
        return "", False
    if allowed(text):
        return text[:200], False
    return "", True
