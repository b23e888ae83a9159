"""The benchmarks package's modules for tests, imported from the checkout's root (which is
on sys.path only while importing, so that nothing else resolves there by accident)."""
import importlib
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def benchmarks_module(name):
    """``benchmarks.<name>``, imported from this checkout."""
    sys.path.insert(0, ROOT)
    try:
        return importlib.import_module(f"benchmarks.{name}")
    finally:
        sys.path.remove(ROOT)
