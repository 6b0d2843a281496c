"""Adapters for outside vendors, one package per vendor (``paypal/``, ...).

Each adapter is self-contained: it imports only ``kangrow.core`` and Django settings, never another
KanGrow context, and ships a fake that tests and the demo point at instead of the real vendor.
"""
