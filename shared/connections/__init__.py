"""Creators' provider connections: status for tiles and workers, and calls made with a valid access token."""
