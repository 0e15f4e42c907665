"""CEDetect shared core: wire contracts, MQTT topics, settings, storage schema and the CLI.

This package imports none of the other CEDetect packages; they all import it.
"""

__version__ = "0.1.0"
