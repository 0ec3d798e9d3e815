"""The kernel: pure data model, codes, units, clock, events and bus. No I/O lives here."""
