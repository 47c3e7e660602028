"""Feeds members subscribe to: fetched by the server over HTTP(S), safely (see `fetch`)."""
