"""Plate and ISO 6346 container-code reading: detector backends, recognisers, grammars."""
