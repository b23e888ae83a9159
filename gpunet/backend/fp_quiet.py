"""`fp_quiet`: silence NumPy's floating-point warnings where inf or NaN is the intended result."""
import contextlib


def fp_quiet(xp, **kinds):
    """``xp.errstate(**kinds)`` for NumPy (``over="ignore"``, ...), where a formula's overflow or 0/0
    gives the right value and NumPy would warn of it; nothing for CuPy, which does not warn."""
    errstate = getattr(xp, "errstate", None)
    return errstate(**kinds) if errstate else contextlib.nullcontext()
