"""Helpers shared by all pillars: image files, HTML reports."""
