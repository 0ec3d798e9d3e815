"""Ingest adapters: protocol parsing (mqtt, hl7v2, fhir, csv) apart from mapping; all feed the
:class:`~medtwin.ingest.pipeline.Ingestor`, which validates and acknowledges only after commit."""
