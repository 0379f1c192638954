"""HipFix: an open API for guided self-rehabilitation of hip impingement."""

__version__ = "0.1.0"
