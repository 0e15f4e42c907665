"""Data files shipped with geofence (a package so that setuptools installs them)."""
