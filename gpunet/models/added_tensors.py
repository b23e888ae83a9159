"""``model.add_loss(t)`` and ``model.add_metric(t, name)`` on a functional model, ``t`` a symbolic tensor
computed from the model's inputs (``K.mean(kl)``): the calls ``t`` needs join the model's graph,
after its own layers (as tf.keras 2 inserts them), and each batch's value of ``t`` joins the loss or is
logged (models/graph_run.py computes them with the outputs)."""
from . import graph as _graph


class AddedTensorsMixin:
    def _add_symbolic_loss(self, tensor):
        """``model.add_loss(t)`` for a tensor ``t`` computed from the model's inputs (``K.mean(kl)``): its
        layers join the model, and each batch's value of ``t`` (summed, if not a scalar) joins the loss."""
        if any(tensor is t for t in self._loss_tensors):
            return
        self._grow_graph(self._loss_tensors, tensor)

    def _add_symbolic_metric(self, tensor, name):
        """``model.add_metric(t, name)``: ``t``'s mean over each epoch's batches is logged as ``name``."""
        if any(name == n for n, _ in self._metric_tensors):
            raise ValueError(f"Model '{self.name}' already has a metric named {name!r} (add_metric).")
        self._grow_graph(self._metric_tensors, (name, tensor))

    def _grow_graph(self, into, item):
        """Append ``item`` to ``into`` (the added losses or metrics) and take the calls it needs into the
        graph; the layers keep their order, the new ones come after them (as tf.keras inserts them).
        Raises, changing nothing, for a tensor of another graph."""
        extra = self._loss_tensors + [t for _, t in self._metric_tensors]
        tensor = item[1] if isinstance(item, tuple) else item
        nodes, ordered = _graph.map_graph(self._inputs, self._outputs + extra + [tensor])
        into.append(item)
        known = {id(l) for l in self._all_layers}
        self._set_graph(nodes, self._all_layers + [l for l in ordered if id(l) not in known])
        self._invalidate()
