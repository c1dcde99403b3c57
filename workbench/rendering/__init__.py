"""Turning executed component notebooks into safe HTML fragments, the report page and the PDF."""
