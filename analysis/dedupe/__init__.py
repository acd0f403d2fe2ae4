"""Dedupe: exact and near-duplicate documents grouped into one story."""
