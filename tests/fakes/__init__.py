"""In-memory twins of every port, and test-only helpers; never copied into an image."""
