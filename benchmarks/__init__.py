"""Performance of the privacy pipeline against its floor and the usual alternative (`make bench`; see docs)."""
