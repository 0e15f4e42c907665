"""Data files shipped with firmware_sim (a package so that setuptools installs them)."""
