"""One hook per remote system, each wrapping one client library with idempotent methods."""
