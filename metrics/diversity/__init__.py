"""Diversity statistics over generated text."""
