"""Extraction: lexicons, mentions of watchlist entities, speakers, statements and stances."""
