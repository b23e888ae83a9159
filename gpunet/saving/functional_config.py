"""Functional model configs: gpunet's `Functional` to tf.keras 2's config, and tf.keras 2's or
Keras 3's config back to a model.

tf.keras 2 (what gpunet writes)::

    {"name": "model", "trainable": true,
     "layers": [{"class_name": "InputLayer", "config": {...}, "name": "input_1", "inbound_nodes": []},
                {"class_name": "Dense", "config": {...}, "name": "dense",
                 "inbound_nodes": [[["input_1", 0, 0, {}]]]}, ...],
     "input_layers": [["input_1", 0, 0]], "output_layers": [["dense", 0, 0]]}

Keras 3 writes each node as ``{"args": [<tensor> or [<tensor>, ...]], "kwargs": {}}`` where a
tensor is ``{"class_name": "__keras_tensor__", "config": {"keras_history": [layer, node, index]}}``,
and a single input or output as ``["input_layer", 0, 0]`` rather than a list of them.
"""
from ..layers.naming import reserve_name
from ..layers.symbolic import input_tensor
from ..layers.symbolic_ops import OpLayer
from . import keras3_ops, op_layers
from .keras3_modes import gpunet_archive, writing_keras3_archive
from .call_arguments import make, needed, node_kwargs, parse
from .errors import InvalidConfigError
from .weight_matching import check_kernels


def functional_config(model):
    """tf.keras 2's config for ``model`` (a `gpunet.models.Functional`); a shared layer lists a node per call."""
    from ..models.graph import call_indices
    index = call_indices(model)

    def ref(t):  # tf.keras 2 counts a nested model's own first node: its calls are 1, 2, ...
        return [t.node.layer.name, index[id(t.node)] + nests(t.node.layer), t._keras_history.tensor_index]
    calls = {}
    for node in model._nodes:
        calls.setdefault(id(node.layer), []).append(node)
    layers = []
    for layer in model._ordered:  # (with the layers of a nested model it also calls directly, as tf.keras 2 lists them)
        nodes = sorted(calls.get(id(layer), []), key=lambda n: index[id(n)])
        if isinstance(layer, OpLayer) and writing_keras3_archive():  # (its entry made from the layer: keras3_config.py)
            layers.append({"class_name": op_layers.OP_CLASSES[0], "config": {"name": layer.name}, "name": layer.name,
                           "inbound_nodes": []})
            continue
        if isinstance(layer, OpLayer):  # tf.keras 2's TFOpLambda: the op's arguments are in its node
            layers.append({"class_name": op_layers.op_class(layer), "config": layer.get_config(), "name": layer.name,
                           "inbound_nodes": [op_layers.node_entry(layer, n, ref) for n in nodes]})
            continue
        layers.append({"class_name": type(layer).__name__, "config": layer.get_config(), "name": layer.name,
                       "inbound_nodes": [[ref(t) + [node_kwargs(n, ref)] for t in _written(n)] for n in nodes]})
    # model.add_loss(t) and add_metric(t, name): tf.keras 2's AddLoss and AddMetric layers, last
    added = [("AddLoss", "add_loss", t, {"unconditional": False}) for t in model._loss_tensors]
    added += [("AddMetric", "add_metric", t, {"aggregation": "mean", "metric_name": metric})
              for metric, t in model._metric_tensors]
    for k, (cls, base, t, extra) in enumerate(added):
        same = sum(1 for a in added[:k] if a[0] == cls)
        name = base if same == 0 else f"{base}_{same}"
        layers.append({"class_name": cls, "config": {"name": name, "trainable": True, "dtype": t.dtype, **extra},
                       "name": name, "inbound_nodes": [[ref(t) + [{}]]]})
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": _keyed([ref(t) for t in model._inputs], getattr(model, "_input_keys", None)),
            "output_layers": _keyed([ref(t) for t in model._outputs], getattr(model, "_output_keys", None))}


def _keyed(refs, keys):
    """The refs of a model made from a dict of inputs or outputs as tf.keras 2 and Keras 3 write them: a dict, in
    its order (``refs`` are in its sorted keys' order); else the list."""
    from ..models.graph import in_key_order
    return in_key_order(refs, keys) if keys else refs


def functional_from_config(inner, custom_objects=None, strict=False, _depth=0, model_class=None):
    """A `Functional` model from its inner config (tf.keras 2's or Keras 3's, see the module doc);
    ``model_class``: a subclass of Model whose constructor takes the rebuilt inputs and outputs instead."""
    from ..models.functional import Functional
    from .config import layer_from_entry
    if not isinstance(inner, dict) or not isinstance(inner.get("layers"), list):
        raise InvalidConfigError("A functional model config needs a 'layers' list, received "
                                 f"{type(inner).__name__}" + (f" (keys found: {sorted(map(str, inner))})"
                                                              if isinstance(inner, dict) else "") + ".")
    layers, pending, added = {}, [], []
    for index, entry in enumerate(inner["layers"]):
        kind = entry.get("class_name") if isinstance(entry, dict) else None
        if kind in ("AddLoss", "AddMetric"):  # model.add_loss/add_metric(tensor): added once the model is made
            metric = (entry.get("config") or {}).get("metric_name") if kind == "AddMetric" else None
            if kind == "AddMetric" and not isinstance(metric, str):
                raise InvalidConfigError(f"An AddMetric layer needs a metric_name, received {str(metric)[:80]}.")
            added.extend((ref, metric) for refs, *_ in _calls(entry.get("inbound_nodes") or [], kind) for ref in refs)
            continue
        if keras3_ops.is_op(entry):  # (Keras 3's ops: a Mean, or the not_equal mask it hands an RNN)
            layer, calls = keras3_ops.read(entry, _keras3_ref)
        elif kind in op_layers.OP_CLASSES:
            layer, calls = op_layers.read_op_layer(entry), []
            nodes = entry.get("inbound_nodes") or []
            if len(nodes) != 1:
                raise InvalidConfigError(f"Op layer {layer.name!r} must have one inbound node, it has {len(nodes)}.")
            refs, layer.args, layer.kwargs = op_layers.parse_node(layer, nodes[0])
            calls = [(refs, len(refs) > 1, None, None)]
        else:
            layer = layer_from_entry(entry, custom_objects, index=index, strict=strict, _depth=_depth)
            calls = None
        name = entry.get("name") or layer.name
        if name in layers:
            raise InvalidConfigError(f"The functional config has two layers named {name!r}.")
        layers[name] = layer
        pending.append((name, layer, calls if calls is not None else _calls(entry.get("inbound_nodes") or [], name)))
    _link_nested_twins(layers, pending)
    # tf.keras 2's lists count a nested model's own first node (its calls are 1, 2, ...); Keras 3's don't
    legacy = not any(isinstance(node, dict) for entry in inner["layers"] for node in entry.get("inbound_nodes") or [])
    nested = {name for name, layer, _ in pending if nests(layer)} if legacy else set()
    pending = [(name, layer, [_renumbered(call, nested) for call in calls]) for name, layer, calls in pending]
    tensors, made = {}, {}
    for name, layer, calls in pending:
        if not calls:
            if type(layer).__name__ != "InputLayer":
                raise InvalidConfigError(f"Layer {name!r} has no inbound node and is not an InputLayer.")
            tensors[(name, 0, 0)] = input_tensor(layer)
        made[name] = 0
    # a layer's calls in order (a shared layer's k-th call makes its node k), each once its inputs exist
    while any(made[name] < len(calls) for name, _, calls in pending):
        progress = False
        for name, layer, calls in pending:
            while made[name] < len(calls) and all(ref in tensors for ref in needed(calls[made[name]])):
                refs, as_list = calls[made[name]][:2]
                args = [tensors[ref] for ref in refs]
                if not as_list and len(args) == 1 and not layer.built:
                    check_kernels([layer], args[0].shape)  # refuse a huge Dense before its weights are allocated
                arg = args if as_list else args[0]  # (a list: a nested model with several outputs)
                out = make(layer, arg, calls[made[name]], tensors)  # (with its training= and other arguments)
                for k, t in enumerate(out if isinstance(out, list) else [out]):
                    tensors[(name, made[name], k)] = t
                made[name] += 1
                progress = True
        if not progress:
            missing = sorted(n for n, _, calls in pending if made[n] < len(calls))
            raise InvalidConfigError(f"The functional config's layers {missing} take inputs that no layer of the "
                                     "config makes (or form a cycle).")
    inputs, outputs = (_ends(inner.get(key), key, lambda ref, key=key: _tensor(tensors, _renumber(ref, nested), key))
                       for key in ("input_layers", "output_layers"))
    name = inner.get("name")
    if name is not None:
        reserve_name(name)
    model = (model_class or Functional)(inputs=inputs, outputs=outputs, name=name)
    for ref, metric in added:
        tensor = _tensor(tensors, _renumber(ref, nested), "AddMetric" if metric else "AddLoss")
        if metric:
            model.add_metric(tensor, metric)
        else:
            model.add_loss(tensor)
    if inner.get("trainable") is False:
        model.trainable = False
    return model


def _link_nested_twins(layers, pending):
    """A layer listed both at the top of the config and inside a nested model of it (a model that calls its
    nested encoder's ``z_mean`` directly, which tf.keras 2 lists twice) is one layer: the nested model's.
    tf.keras 2 makes two layers of it when it reads such a file, whose weights then train apart."""
    inner = {}
    for layer in layers.values():
        if nests(layer):
            for sub in layer._layers_in_tree():
                inner.setdefault(sub.name, sub)
    for i, (name, layer, calls) in enumerate(pending):
        twin = inner.get(name)
        if twin is not None and not nests(layer) and type(twin) is type(layer):
            layers[name] = twin
            pending[i] = (name, twin, calls)


def _calls(nodes, name):
    """Each call of a layer as ``([(layer, node, tensor), ...], as_list, training, extras)``, from either
    format: ``training`` the call's own ``training=`` argument (None where it has none), ``extras`` its
    other arguments (saving/call_arguments.py)."""
    if not isinstance(nodes, list):
        raise InvalidConfigError(f"Layer {name!r}: 'inbound_nodes' must be a list, received {type(nodes).__name__}.")
    calls = []
    for node in nodes:
        if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
            args = node.get("args") or []
            training, extras = parse(node.get("kwargs") or {}, name, lambda v: _keras3_tensor(v, name))
            if not gpunet_archive():
                # Keras 3 records each call's training (False for every call as it builds a model) and overrides
                # it with the model's own whenever that is set (fit, evaluate, predict: its operation_fn); gpunet
                # writes a training= the call was given, kept as tf.keras 2 keeps it
                training = None
            if not args:
                raise InvalidConfigError(f"Layer {name!r}: a call without positional arguments.")
            if len(args) > 1:  # (a layer with call() given more: layers/call_args.py)
                extras[None] = [("ref", _keras3_tensor(a, name)) if _keras3_tensor(a, name) else ("value", a)
                                for a in args[1:]]
            first = args[0]
            as_list = isinstance(first, list)
            refs = [_keras3_ref(t, name) for t in (first if as_list else [first])]
            calls.append((refs, as_list, training, extras or None))
        elif isinstance(node, list):  # tf.keras 2: [[layer, node, tensor, kwargs], ...]
            refs, training, extras = [], None, {}
            for item in node:
                if not isinstance(item, list) or len(item) not in (3, 4):
                    raise InvalidConfigError(f"Layer {name!r}: an inbound node entry must be [layer, node_index, "
                                             f"tensor_index, kwargs], received {str(item)[:120]}.")
                if len(item) == 4 and isinstance(item[3], dict):
                    training, extras = parse(item[3], name, _keras2_tensor)
                refs.append(_ref(item[:3], f"layer {name!r}'s inbound nodes"))
            calls.append((refs, len(refs) > 1, training, extras or None))
        else:
            raise InvalidConfigError(f"Layer {name!r}: an inbound node must be a list or a dict, received "
                                     f"{type(node).__name__}.")
    return calls


def _written(node):
    """The tensors a call's entry lists: its inputs, or its first argument's alone for a call with more
    arguments (the others go into its keyword arguments)."""
    return node.inputs[:max(1, node.call_args.first_count)] if node.call_args is not None else node.inputs


def _renumbered(call, nested):
    refs, as_list, training, extras = call
    if extras:
        extras = {k: ([_renumbered_slot(x, nested) for x in v] if k is None else _renumbered_slot(v, nested))
                  for k, v in extras.items()}
    return [_renumber(r, nested) for r in refs], as_list, training, extras


def _renumbered_slot(slot, nested):
    return ("ref", _renumber(slot[1], nested)) if slot[0] == "ref" else slot


def _keras2_tensor(value):
    """The reference a tf.keras 2 keyword argument ``[layer, node, index]`` stands for, else None."""
    if (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:])):
        return _ref(value, "a call's keyword argument")
    return None


def _keras3_tensor(value, name):
    return _keras3_ref(value, name) if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__" \
        else None


def nests(layer):
    """1 for a nested model (a Sequential or functional model used as a layer), else 0."""
    return 1 if getattr(type(layer), "_nests_layers", False) else 0


def _renumber(ref, nested):
    """A tf.keras 2 reference to a nested model's call, counted from 0 as gpunet and Keras 3 do."""
    if ref[0] not in nested:
        return ref
    if ref[1] < 1:
        raise InvalidConfigError(f"The config refers to {list(ref)}: tf.keras 2 numbers a nested model's calls "
                                 "from 1 (node 0 is the model's own).")
    return (ref[0], ref[1] - 1, ref[2])


def _keras3_ref(tensor, name):
    if not isinstance(tensor, dict) or tensor.get("class_name") != "__keras_tensor__":
        raise InvalidConfigError(f"Layer {name!r}: its call's arguments must be Keras tensors "
                                 f"(class_name '__keras_tensor__'), received {str(tensor)[:120]}.")
    return _ref((tensor.get("config") or {}).get("keras_history"), f"layer {name!r}'s keras_history")


def _ref(item, where):
    if (not isinstance(item, (list, tuple)) or len(item) != 3 or not isinstance(item[0], str)
            or not all(isinstance(i, int) and not isinstance(i, bool) for i in item[1:])):
        raise InvalidConfigError(f"{where}: expected [layer_name, node_index, tensor_index], received {str(item)[:120]}.")
    if item[2] < 0 or item[1] < 0:
        raise InvalidConfigError(f"{where}: [layer_name, node_index, tensor_index] counts from 0, received "
                                 f"{list(item)}.")
    return tuple(item)


def _ends(value, key, tensor):
    """A model's inputs or outputs from the config's ``input_layers``/``output_layers``: one tensor, a list of
    them, or a dict of them where the config keys them (a model made from a dict, tf.keras 2's and Keras 3's)."""
    if isinstance(value, dict):
        return {str(k): tensor(ref) for k, ref in zip(value, _refs(list(value.values()), key))}
    tensors = [tensor(ref) for ref in _refs(value, key)]
    return tensors if len(tensors) > 1 else tensors[0]


def _refs(value, key):
    """``input_layers``/``output_layers``: a list of refs, or Keras 3's single ref."""
    if isinstance(value, list) and value and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise InvalidConfigError(f"The functional config's {key!r} must list [layer_name, 0, 0] entries, received "
                                 f"{str(value)[:120]}.")
    return [_ref(v, key) for v in value]


def _tensor(tensors, ref, key):
    if ref not in tensors:
        raise InvalidConfigError(f"The functional config's {key!r} names {list(ref)}, which is not a layer of it.")
    return tensors[ref]
