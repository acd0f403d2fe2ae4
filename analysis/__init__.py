"""The pure analysis core, by stage: text, language, dedupe, extract, positions.

Plain data in, plain data out: nothing here imports Prefect, an HTTP client or the database.
Generic language (cue words, month names, disclaimers) lives in `lexicons/` beside this file;
everything about one negotiation lives in its watchlist.
"""

from pathlib import Path

LEXICON_DIR = Path(__file__).parent / "lexicons"
