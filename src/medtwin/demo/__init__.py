"""The live demo hospital: synthetic building, wards, beds, patients, staff and devices."""
