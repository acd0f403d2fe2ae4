"""Positions: observations folded into units, replayed into timelines, shifts detected."""
