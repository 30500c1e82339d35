"""The HTTP layer: routers, dependencies, middleware and problem details."""
