"""Keeps each booking's Zoom meeting and Google event in step with the booking."""
