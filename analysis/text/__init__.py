"""Text: bytes to normalized documents, sentence and body boundaries, canonical URLs, entry ids."""
