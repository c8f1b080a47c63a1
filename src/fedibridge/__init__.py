"""fedibridge: post a library's RSS/Atom feeds to its own fediverse account, each item once."""

__version__ = "0.1.0"
