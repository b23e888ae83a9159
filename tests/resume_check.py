"""Training straight through against saving part-way, loading and training on: the procedure the
exact-resume tests share (their assertions stay their own)."""
import gpunet
from gpunet.models import load_model


def straight_and_resumed(make, x, y, path, epochs, split, batch_size, seed):
    """``(straight, first, resumed, history)``: ``make()`` trained ``epochs`` epochs straight
    through; another ``make()`` (same seed) trained ``split`` epochs and saved to ``path``; the
    model loaded from it, after seeding differently (the file's generator states must win), and
    trained on from epoch ``split`` to ``epochs`` (``history``: that fit's)."""
    gpunet.utils.set_random_seed(seed)
    straight = make()
    straight.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    gpunet.utils.set_random_seed(seed)
    first = make()
    first.fit(x, y, epochs=split, batch_size=batch_size, verbose=0)
    first.save(path)
    gpunet.utils.set_random_seed(seed + 987)
    resumed = load_model(path)
    history = resumed.fit(x, y, epochs=epochs, initial_epoch=split, batch_size=batch_size, verbose=0)
    return straight, first, resumed, history
