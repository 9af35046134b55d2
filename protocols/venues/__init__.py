"""Venue wire formats: one module per venue, decoding bytes to protocols.messages types."""
