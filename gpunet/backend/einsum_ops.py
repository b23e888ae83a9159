"""Einstein summation and its gradients, for `EinsumDense` and ``ops.einsum``.

`EinsumOps` is a `Backend` mixin. `explicit_subscripts` spells an equation's ellipses (``...``) out as
letters of their own for the operands at hand, so that every gradient is one more summation whose
indices are all named.
"""
import math
import string

_OPTIMIZE_FROM = 4096  # elements: below it, einsum's path search costs more than the loop it saves


def explicit_subscripts(subscripts, ndims):
    """``(terms, output)`` of ``subscripts`` (``"ab,bc->ac"``, ``"...b,bc->...c"``, implicit output too) for
    operands of ``ndims`` dimensions, each ``...`` replaced by letters the equation does not use (the same
    letters for the same broadcast axes, aligned from the right as NumPy aligns them)."""
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, received {len(ndims)}")
    named = [term.replace("...", "") for term in terms]
    for term, bare in zip(terms, named):
        if (bare and not bare.isalpha()) or term.count("...") > 1 or "." in term.replace("...", "", 1):
            raise ValueError(f"einsum: invalid subscripts {subscripts!r}: each operand's subscripts are letters "
                             f"with at most one '...'")
    counts = []
    for term, bare, ndim in zip(terms, named, ndims):
        extra = ndim - len(bare)
        if extra < 0 or (extra and "..." not in term):
            raise ValueError(f"einsum: subscripts {term!r} of {subscripts!r} do not fit an operand of "
                             f"{ndim} dimension(s)")
        counts.append(extra)
    spare = [c for c in string.ascii_letters if c not in text]
    width = max(counts, default=0)
    broadcast = "".join(spare[:width])
    terms = [term.replace("...", broadcast[width - n:]) for term, n in zip(terms, counts)]
    if arrow:
        output = output.replace("...", broadcast)
    else:
        letters = "".join(named)
        output = broadcast + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return terms, output


class EinsumOps:
    """``einsum`` and the gradient of each of its operands."""

    def einsum(self, subscripts, *operands):
        """``xp.einsum``; large contractions go through BLAS (NumPy's greedy path), small ones skip the search."""
        big = any(math.prod(getattr(o, "shape", ())) >= _OPTIMIZE_FROM for o in operands)
        return self.xp.einsum(subscripts, *operands, optimize="greedy" if big and len(operands) > 1 else False)

    def einsum_gradient(self, terms, output, index, upstream, operands):
        """The gradient of operand ``index`` of ``einsum(",".join(terms) + "->" + output, *operands)`` given the
        output's gradient ``upstream``: the summation of ``upstream`` with the other operands. Indices only
        this operand has (summed away in the forward pass) get the same gradient all along them."""
        others = [(terms[j], operands[j]) for j in range(len(terms)) if j != index]
        known = set(output).union(*[set(term) for term, _ in others])
        own = terms[index]
        target = "".join(c for c in own if c in known)
        spec = ",".join([output] + [term for term, _ in others]) + "->" + target
        grad = self.einsum(spec, upstream, *[data for _, data in others])
        shape = operands[index].shape
        if target != own:
            grad = grad.reshape([shape[k] if c in known else 1 for k, c in enumerate(own)])
            grad = self.xp.broadcast_to(grad, shape)
        return grad
