"""Venue market-data feeds: one actor per websocket connection."""
