"""Remote care of chronic patients at home and in nursing homes (issue 8; docs/remote-care.md):
enrolment, continuous triage, worklist, caregiver notifications, daily summaries, imports."""
