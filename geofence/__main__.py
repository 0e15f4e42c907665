"""``python -m geofence [--check]``: regenerate (or check) the shipped zone files."""

from geofence.demo_zones import main

raise SystemExit(main())
