"""Entry point: ``flask --app wsgi …`` and WSGI servers use ``wsgi:app``."""
from arrears import create_app

app = create_app()
