"""The CEDetect central server: a FastAPI app with the REST API, the live alert stream and the
command-centre page.

:func:`server.app.create_app` builds the app; ``cedetect server`` (see :mod:`server.cli`) runs it.
"""
