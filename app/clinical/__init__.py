"""What a clinic system or a person reads about a client's course: FHIR, a pain chart and a
printable report, all built from one read of the client's record (`record.py`)."""
