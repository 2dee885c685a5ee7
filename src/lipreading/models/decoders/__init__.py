"""Sequence decoders for sentence lipreading and the searches that drive them."""
