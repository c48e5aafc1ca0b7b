"""Readers that several integrations share (Stripe money movements), kept apart from any one integration.

A source reads one external system into engine records; it names no integration and no operator
(import-linter contract ``sources``).
"""
