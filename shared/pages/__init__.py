"""What every HTML page shares: the Jinja environment and layout, the session cookie, CSRF, security headers,
times written for people, and the sign-in routes. Page handlers live next to their service (pages.py)."""
