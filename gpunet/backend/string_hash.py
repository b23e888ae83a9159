"""Host-side hashing of strings and integers into bins as TensorFlow computes them for Keras's `Hashing` layer:
``tf.strings.to_hash_bucket_fast`` (FarmHash's Fingerprint64, from pyfarmhash) and, with a salt,
``to_hash_bucket_strong`` (SipHash-2-4 keyed by two 64-bit integers), each modulo the number of bins; integers
are hashed as their decimal text (``tf.as_string``). And `HashedCrossing`'s: ``tf.sparse.cross_hashed``, each
feature (a string's fingerprint, an integer itself) folded into the default key by TensorFlow's
``FingerprintCat64``. Kept at the backend's edge: the layers import no array library."""
import numpy

_MASK = 0xFFFFFFFFFFFFFFFF


def _fingerprint64():
    try:
        import farmhash
    except ImportError as error:
        raise ImportError("gpunet's Hashing layer needs pyfarmhash for FarmHash's Fingerprint64 (TensorFlow's "
                          "string hash): pip install 'gpunet[hashing]' (or pip install pyfarmhash)") from error
    return farmhash.fingerprint64


def _rounds(count, v0, v1, v2, v3):
    for _ in range(count):
        v0 = (v0 + v1) & _MASK
        v1 = ((v1 << 13) | (v1 >> 51)) & _MASK ^ v0
        v0 = ((v0 << 32) | (v0 >> 32)) & _MASK
        v2 = (v2 + v3) & _MASK
        v3 = ((v3 << 16) | (v3 >> 48)) & _MASK ^ v2
        v0 = (v0 + v3) & _MASK
        v3 = ((v3 << 21) | (v3 >> 43)) & _MASK ^ v0
        v2 = (v2 + v1) & _MASK
        v1 = ((v1 << 17) | (v1 >> 47)) & _MASK ^ v2
        v2 = ((v2 << 32) | (v2 >> 32)) & _MASK
    return v0, v1, v2, v3


def siphash24(k0, k1, data):
    """SipHash-2-4 of the bytes ``data`` under the key ``(k0, k1)`` (TensorFlow's ``StrongKeyedHash``)."""
    v = (k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573)
    n = len(data)
    end = n - n % 8
    words = [int.from_bytes(data[i:i + 8], "little") for i in range(0, end, 8)]
    words.append(((n & 0xFF) << 56) | int.from_bytes(data[end:], "little"))
    for m in words:
        v0, v1, v2, v3 = _rounds(2, v[0], v[1], v[2], v[3] ^ m)
        v = (v0 ^ m, v1, v2, v3)
    v0, v1, v2, v3 = _rounds(4, v[0], v[1], v[2] ^ 0xFF, v[3])
    return v0 ^ v1 ^ v2 ^ v3


def _whole(array):
    """``array`` with whole-number floats (integers as a model's float arrays carry them) as int64; other floats
    are refused."""
    array = numpy.asarray(array)
    if array.dtype.kind == "f":
        whole = numpy.isfinite(array) & (array == numpy.floor(array))
        if not numpy.all(whole):
            raise ValueError(f"Hashing takes strings or integers, received the float {float(array[~whole].flat[0])!r}")
        return array.astype("int64")
    if array.dtype.kind not in "iuUSO":
        raise ValueError(f"Hashing takes strings or integers, received an array of dtype {array.dtype}")
    return array


def _token(value):
    """One value as the bytes TensorFlow hashes: a string's UTF-8, an integer's decimal text."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return str(int(value)).encode("ascii")


def as_tokens(values):
    """``values`` (strings, bytes or integers; whole-number floats, as integers travel inside a model) as a NumPy
    object array of what TensorFlow hashes; other floats are refused."""
    array = _whole(values)
    out = numpy.empty(array.shape, dtype=object)
    out.reshape(-1)[:] = [_token(v) for v in array.reshape(-1).tolist()]
    return out


def hash_bins(tokens, num_bins, salt=None):
    """The bin in ``[0, num_bins)`` of each of ``tokens`` (`as_tokens`), as an int64 array of their shape: FarmHash's
    Fingerprint64, or with ``salt`` (two integers) the keyed SipHash-2-4, modulo ``num_bins``."""
    flat = tokens.reshape(-1).tolist()
    if salt is None:
        fingerprint = _fingerprint64()
        bins = [fingerprint(t) % num_bins for t in flat]
    else:
        k0, k1 = (int(s) & _MASK for s in salt)
        bins = [siphash24(k0, k1, t) % num_bins for t in flat]
    return numpy.array(bins, dtype="int64").reshape(tokens.shape)


_CROSS_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default hash_key
_MUL = 0xC6A4A7935BD1E995


def _shift_mix(value):
    return value ^ (value >> 47)


def fingerprint_cat64(fp1, fp2):
    """TensorFlow's ``FingerprintCat64``: two 64-bit fingerprints combined into one."""
    result = fp1 ^ _MUL
    result ^= (_shift_mix((fp2 * _MUL) & _MASK) * _MUL) & _MASK
    result = (result * _MUL) & _MASK
    result = (_shift_mix(result) * _MUL) & _MASK
    return _shift_mix(result)


def cross_bins(columns, num_bins):
    """The bin in ``[0, num_bins)`` of each row's cross of ``columns`` (arrays of one shape: strings, integers or
    whole-number floats), as ``tf.sparse.cross_hashed`` computes it, as an int64 array of that shape."""
    fingerprint = _fingerprint64()
    features = []
    for column in columns:
        array = _whole(column)
        flat = array.reshape(-1).tolist()
        if array.dtype.kind in "iu":
            features.append([int(v) & _MASK for v in flat])
        else:
            features.append([fingerprint(_token(v)) for v in flat])
    bins = []
    for row in zip(*features):
        crossed = _CROSS_KEY
        for feature in row:
            crossed = fingerprint_cat64(crossed, feature)
        bins.append(crossed % num_bins)
    return numpy.array(bins, dtype="int64").reshape(numpy.shape(columns[0]))
