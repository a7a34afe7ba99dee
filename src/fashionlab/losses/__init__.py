"""Losses as plain functions returning ``(loss, {name: detached scalar})``, so logging is free."""
