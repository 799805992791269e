"""Layerloom: design neural networks by drag and drop, train them live, export them."""

__version__ = "0.1.0"
