"""Creators' provider connections: the connect flow, Zoom's webhook, and calls made with a valid access token."""
