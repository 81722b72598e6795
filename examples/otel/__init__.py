"""OpenTelemetry tracing for tandemq: a send hook and a middleware (see README.md here)."""
