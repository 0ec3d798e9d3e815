"""Security: authentication, access policy, encryption at rest, tamper-evident audit, de-identification."""
