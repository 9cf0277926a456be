"""The HTTP surface: routes, request/response schemas, error mapping, middleware, OpenAPI."""
