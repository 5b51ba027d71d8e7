"""Provider sandbox: a stateful local Zoom and Google speaking their real HTTP APIs.

Point the project's provider URLs at it with PROVIDER_SANDBOX_URL; drive and inspect it through
the /_sandbox control API or `devstack.sandbox.client.SandboxControl`.
"""

from devstack.sandbox._state import SandboxState
from devstack.sandbox.app import SandboxServer, create_app, make_sandbox_server, serve_in_thread

__all__ = ["SandboxServer", "SandboxState", "create_app", "make_sandbox_server", "serve_in_thread"]
