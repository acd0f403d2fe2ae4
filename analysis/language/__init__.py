"""Language: which languages a document is written in, machine-translation artifacts, mojibake."""
