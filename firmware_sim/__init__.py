"""Simulated GT06 trucks driving approximate transit routes across Turkey, for demos and tests."""
