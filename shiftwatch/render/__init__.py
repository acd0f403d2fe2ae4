"""Rendering: digests, alert and correction messages, templates and the timeline SVG."""
