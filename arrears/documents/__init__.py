"""Printed documents: notice and receipt PDFs (templates in ``notices/``), their signing."""
