"""gpunet.preprocessing (Keras 2's text and sequence preprocessing): differential against tf.keras
2.21 (tf_keras; skipped with the reason where it is not installed) for pad_sequences
(hypothesis-generated), every Tokenizer option that matters, JSON both ways, hashing, skipgrams,
make_sampling_table and TimeseriesGenerator; the Keras docs' known values; the reuters_mlp.py and
IMDB pipelines training on synthetic data; and the errors (including where gpunet deliberately
differs from tf.keras)."""
import collections
import hashlib
import itertools
import json
import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import gpunet
from gpunet.preprocessing import sequence, text
from gpunet.preprocessing.text import Tokenizer, tokenizer_from_json
from keras_support import tf_keras_or_skip


@pytest.fixture(scope="module")
def tfk():
    tf_keras_or_skip()
    from tf_keras.preprocessing import sequence as tf_sequence, text as tf_text
    return tf_text, tf_sequence


def outcome(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the differential compares exception types
        return type(exc)


def assert_same(ours, theirs):
    if isinstance(theirs, type):
        assert ours is theirs or (isinstance(ours, type) and issubclass(ours, theirs)), (ours, theirs)
    else:
        assert not isinstance(ours, type), f"gpunet raised {ours}, tf.keras gave {theirs!r}"
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, (ours.dtype, theirs.dtype)
        assert np.array_equal(ours, theirs), (ours, theirs)


# ---- pad_sequences ----

ints = st.integers(-2**31, 2**31 - 1)
ragged = st.lists(st.lists(ints, max_size=6), max_size=6)


@st.composite
def pad_cases(draw):
    seqs = draw(ragged)
    form = draw(st.sampled_from(["lists", "arrays", "matrix", "object array"]))
    if form == "arrays":
        seqs = [np.array(s, dtype="int64") for s in seqs]
    elif form == "matrix" and seqs and len({len(s) for s in seqs}) == 1:
        seqs = np.array(seqs, dtype="int64")
    elif form == "object array":  # what gpunet.datasets.imdb/reuters load_data return
        lists, seqs = seqs, np.empty(len(seqs), dtype=object)
        for i, s in enumerate(lists):
            seqs[i] = s
    kwargs = dict(maxlen=draw(st.sampled_from([None, 1, 2, 3, 7])),  # 0: see the deliberate differences
                  padding=draw(st.sampled_from(["pre", "post"])), truncating=draw(st.sampled_from(["pre", "post"])),
                  dtype=draw(st.sampled_from(["int32", "float32", "int64", "float64", object, "str", "<U3"])),
                  value=draw(st.sampled_from([0.0, -1, 2.5, "x", "pad"])))
    return seqs, kwargs


@settings(max_examples=300, deadline=None)
@given(case=pad_cases())
def test_pad_sequences_is_tf_keras(tfk, case):
    seqs, kwargs = case
    assert_same(outcome(sequence.pad_sequences, seqs, **kwargs), outcome(tfk[1].pad_sequences, seqs, **kwargs))


@pytest.mark.parametrize("seqs,kwargs", [
    ([], {}), ([], {"maxlen": 3}), ([[], []], {}), ([[1.5, 2.7], [3]], {}), ([[[1, 2], [3, 4]], [[5, 6]]], {}),
    ([[[1, 2]], [[3]]], {}), ([np.zeros((3, 2)), np.ones((1, 2))], {"maxlen": 2, "dtype": "float64"}),
    ([["a", "bb"], ["ccc"]], {"dtype": object, "value": ""}), ([["a", "bb"], ["ccc"]], {"dtype": "<U2"}),
    ([[1], 2], {}), ([[1], None], {}), (["ab", "c"], {}), ([[2**40]], {}), ([[1]], {"dtype": "foo"}),
    ([[1, 2], [3]], {"value": None}), ([[1, 2, 3]], {"maxlen": 2.0}), ([[1, 2, 3]], {"maxlen": np.int64(2)}),
    ([[1, 2, 3], [4]], {"padding": "middle"}), ([[1, 2, 3]], {"maxlen": 2, "truncating": "middle"}),
])
def test_pad_sequences_edge_cases_are_tf_keras(tfk, seqs, kwargs):
    assert_same(outcome(sequence.pad_sequences, seqs, **kwargs), outcome(tfk[1].pad_sequences, seqs, **kwargs))


def test_pad_sequences_known_values_and_import_paths():
    seqs = [[1], [2, 3], [4, 5, 6]]
    assert gpunet.utils.pad_sequences is sequence.pad_sequences
    out = sequence.pad_sequences(seqs)
    assert out.dtype == np.int32 and out.tolist() == [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
    assert sequence.pad_sequences(seqs, value=-1).tolist() == [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
    assert sequence.pad_sequences(seqs, padding="post").tolist() == [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
    assert sequence.pad_sequences(seqs, maxlen=2).tolist() == [[0, 1], [2, 3], [5, 6]]
    assert sequence.pad_sequences(seqs, maxlen=2, truncating="post").tolist() == [[0, 1], [2, 3], [4, 5]]


def test_pad_sequences_deliberate_differences():
    # tf.keras: ValueError (s[-0:] is the whole sequence); gpunet: no columns, whichever side truncates
    assert sequence.pad_sequences([[1, 2], [3]], maxlen=0).shape == (2, 0)
    # tf.keras refuses dtype="object" with a string value; its own message asks for dtype=object
    assert sequence.pad_sequences([["a"], []], dtype="object", value="-").tolist() == [["a"], ["-"]]
    # tf.keras accepts a bad padding when every sequence is empty
    with pytest.raises(ValueError, match='expected "pre" or "post"'):
        sequence.pad_sequences([[], []], padding="middle")


@pytest.mark.parametrize("call,error,match", [
    (lambda: sequence.pad_sequences([[1], 2]), ValueError, "Found non-iterable: 2 .int. at position 1"),
    (lambda: sequence.pad_sequences(iter([[1]])), ValueError, "received list_iterator"),
    (lambda: sequence.pad_sequences([[1]], padding="middle"), ValueError, "'middle' not understood"),
    (lambda: sequence.pad_sequences([[1]], truncating=None), ValueError, "Truncating type None"),
    (lambda: sequence.pad_sequences([]), ValueError, "pass maxlen="),
    (lambda: sequence.pad_sequences([[1]], maxlen=-1), ValueError, "maxlen must be >= 0, received -1"),
    (lambda: sequence.pad_sequences([[1]], maxlen="3"), TypeError, "maxlen must be an int or None, received '3'"),
    (lambda: sequence.pad_sequences([[1]], value="x"), ValueError, "set `dtype=object`"),
    (lambda: sequence.pad_sequences([[[1, 2]], [[3]]]), ValueError, r"sequence at position 1 .* expected shape \(2,\)"),
])
def test_pad_sequences_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ---- Tokenizer ----

CORPUS = ["The cat sat on the mat.", "The dog ate my homework!", "", "the THE, cat; dog's\tbone\nend",
          ["The", "Cat", "sat"], "a,b,c a b; c", "Ünïcode wörds, ünïcode"]
NEW = ["the unseen cat", "zebra mat dog", ["Dog", "bone"], "a b z"]
OPTIONS = dict(num_words=[None, 3, 6], filters=[text.FILTERS, "", ".,"], lower=[True, False],
               char_level=[False, True], oov_token=[None, "<OOV>", "the"], split=[" ", ","])
STATE = ["word_counts", "word_docs", "index_docs", "word_index", "index_word", "document_count"]


def combos():
    names = list(OPTIONS)
    for values in itertools.product(*OPTIONS.values()):
        yield dict(zip(names, values))


def assert_tokenizers_agree(ours, theirs, texts):
    for name in STATE:
        assert getattr(ours, name) == getattr(theirs, name), name
    seqs = theirs.texts_to_sequences(texts)
    assert ours.texts_to_sequences(texts) == seqs
    probe = seqs + [[0, 1, 2, 3, 4, 5, 99, 1000], []]
    assert ours.sequences_to_texts(probe) == theirs.sequences_to_texts(probe)
    for mode in ("binary", "count", "freq", "tfidf"):
        a, b = ours.texts_to_matrix(texts, mode=mode), theirs.texts_to_matrix(texts, mode=mode)
        assert a.dtype == b.dtype and a.shape == b.shape
        if mode == "tfidf":
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
        else:
            assert np.array_equal(a, b), mode
        assert np.array_equal(ours.sequences_to_matrix(probe, mode=mode) > 0,
                              theirs.sequences_to_matrix(probe, mode=mode) > 0)


def test_tokenizer_is_tf_keras_for_every_option(tfk):
    tf_text = tfk[0]
    for options in combos():
        ours, theirs = Tokenizer(**options), tf_text.Tokenizer(**options)
        ours.fit_on_texts(CORPUS[:4])
        theirs.fit_on_texts(CORPUS[:4])
        ours.fit_on_texts(iter(CORPUS[4:]))  # fitting twice, and from a generator
        theirs.fit_on_texts(iter(CORPUS[4:]))
        assert isinstance(ours.word_counts, collections.OrderedDict)
        assert list(ours.word_counts) == list(theirs.word_counts) and list(ours.word_index) == list(theirs.word_index)
        assert_tokenizers_agree(ours, theirs, CORPUS + NEW)
        assert ours.to_json() == theirs.to_json(), options
        # each side's JSON loads in the other
        assert_tokenizers_agree(tokenizer_from_json(theirs.to_json()), tf_text.tokenizer_from_json(ours.to_json()),
                                CORPUS + NEW)


def test_tokenizer_analyzer_nb_words_and_fit_on_sequences_are_tf_keras(tfk):
    tf_text = tfk[0]
    kw = dict(analyzer=lambda t: t.split("-"), oov_token="?")
    ours, theirs = Tokenizer(**kw), tf_text.Tokenizer(**kw)
    for t in (ours, theirs):
        t.fit_on_texts(["a-b-a", "c-A"])
    assert_tokenizers_agree(ours, theirs, ["a-c-z", "b"])
    with pytest.warns(UserWarning, match="renamed `num_words`"):
        ours = Tokenizer(nb_words=4)
    theirs = tf_text.Tokenizer(num_words=4)
    seqs = [[1, 2, 2, 3], [3, 3, 5], [], [1]]
    for t in (ours, theirs):
        t.fit_on_sequences(seqs)
        t.fit_on_sequences(np.array([[1, 2], [2, 2]]))
    assert ours.document_count == theirs.document_count and ours.index_docs == theirs.index_docs
    for mode in ("binary", "count", "freq", "tfidf"):
        np.testing.assert_allclose(ours.sequences_to_matrix(seqs, mode), theirs.sequences_to_matrix(seqs, mode),
                                   rtol=1e-14)


def test_tokenizer_known_values():
    t = Tokenizer()
    t.fit_on_texts(["The cat sat on the mat.", "The dog ate my homework."])
    assert t.word_index == {"the": 1, "cat": 2, "sat": 3, "on": 4, "mat": 5, "dog": 6, "ate": 7, "my": 8, "homework": 9}
    assert list(t.word_counts.items())[:3] == [("the", 3), ("cat", 1), ("sat", 1)]
    assert t.document_count == 2 and t.word_docs["the"] == 2 and t.index_docs[1] == 2
    assert t.texts_to_sequences(["the dog sat on a mat"]) == [[1, 6, 3, 4, 5]]
    assert t.texts_to_matrix(["the the cat"], mode="count").tolist() == [[0, 2, 1] + [0] * 7]
    capped = Tokenizer(num_words=3, oov_token="<OOV>")
    capped.fit_on_texts(["a a a b b c"])  # <OOV>=1, a=2, b=3, c=4: only indices < 3 are kept
    assert capped.texts_to_sequences(["a b c d"]) == [[2, 1, 1, 1]]
    assert capped.sequences_to_texts([[2, 3, 7]]) == ["a <OOV> <OOV>"]
    assert text.text_to_word_sequence("This is a sample sentence.") == ["this", "is", "a", "sample", "sentence"]


def test_hashing_is_tf_keras(tfk):
    tf_text = tfk[0]
    sample = "The quick brown fox, the lazy dog; ÜBER straße"
    for n in (2, 3, 17, 1000):
        assert text.hashing_trick(sample, n, "md5") == tf_text.hashing_trick(sample, n, "md5")
        # Python's hash is salted per process, but the same within one: gpunet uses it as tf.keras does
        assert text.one_hot(sample, n) == tf_text.one_hot(sample, n)
        assert text.hashing_trick(sample, n) == tf_text.hashing_trick(sample, n)
        assert text.hashing_trick(sample, n, len, lower=False, split=",", analyzer=None) == \
            tf_text.hashing_trick(sample, n, len, lower=False, split=",")
    assert text.hashing_trick("a B", 10, "md5") == [int(hashlib.md5(w).hexdigest(), 16) % 9 + 1 for w in (b"a", b"b")]


# ---- skipgrams, make_sampling_table, TimeseriesGenerator ----

def test_sampling_table_and_skipgrams_are_tf_keras(tfk):
    tf_seq = tfk[1]
    for size, factor in [(1, 1e-5), (2, 1e-5), (10, 1e-3), (1000, 1e-5), (50, 0.5)]:
        ours, theirs = sequence.make_sampling_table(size, factor), tf_seq.make_sampling_table(size, factor)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs)
    table = sequence.make_sampling_table(20, sampling_factor=0.05)
    words = [3, 0, 5, 1, 19, 2, 2, 7, 0, 11, 4, 1]
    for kwargs in [{}, {"seed": 7}, {"negative_samples": 0.0, "seed": 3}, {"negative_samples": 2.5, "window_size": 2},
                   {"categorical": True, "seed": 1}, {"shuffle": False}, {"sampling_table": table, "seed": 9},
                   {"sampling_table": table, "categorical": True, "window_size": 1}]:
        random.seed(1234)
        ours, ours_state = sequence.skipgrams(words, 20, **kwargs), random.getstate()
        random.seed(1234)
        assert ours == tf_seq.skipgrams(words, 20, **kwargs) and ours_state == random.getstate(), kwargs
    assert sequence.skipgrams([], 5) == tf_seq.skipgrams([], 5) == ([], [])


def test_skipgrams_known_pairs():
    couples, labels = sequence.skipgrams([1, 2, 0, 3], 4, window_size=1, negative_samples=0, shuffle=False)
    assert couples == [[1, 2], [2, 1]] and labels == [1, 1]
    couples, labels = sequence.skipgrams([1, 2, 3], 10, window_size=1, negative_samples=1.0, seed=5)
    assert len(couples) == 8 and sorted(labels) == [0] * 4 + [1] * 4
    assert all(1 <= c[1] < 10 for c, label in zip(couples, labels) if label == 0)


def test_timeseries_generator_is_tf_keras(tfk):
    data = np.arange(50 * 2).reshape(50, 2)
    targets = np.arange(50)
    for kwargs in [dict(length=10, sampling_rate=2, batch_size=2), dict(length=3, stride=4, reverse=True),
                   dict(length=5, start_index=10, end_index=40, batch_size=7), dict(length=2, shuffle=True)]:
        ours, theirs = sequence.TimeseriesGenerator(data, targets, **kwargs), \
            tfk[1].TimeseriesGenerator(data, targets, **kwargs)
        assert len(ours) == len(theirs) and ours.to_json() == theirs.to_json()
        for i in range(len(ours)):
            np.random.seed(i)
            a = ours[i]
            np.random.seed(i)
            b = theirs[i]
            assert all(np.array_equal(u, v) and u.dtype == v.dtype for u, v in zip(a, b))
    assert isinstance(ours, gpunet.utils.Sequence)


# ---- the Keras 2 examples' pipelines on synthetic data ----

def test_reuters_mlp_pipeline_trains():
    from gpunet.layers import Activation, Dense, Dropout
    from gpunet.models import Sequential
    gpunet.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    num_classes, max_words = 4, 200
    y_train = rng.integers(0, num_classes, 400)
    # each topic favours its own band of word indices; the rest is common noise, as in reuters.load_data
    x_train = np.array([list(rng.integers(3 + 40 * y, 43 + 40 * y, 20)) + list(rng.integers(1, 500, 30))
                        for y in y_train], dtype=object)
    tokenizer = Tokenizer(num_words=max_words)
    x_train = tokenizer.sequences_to_matrix(x_train, mode="binary")
    y_train = gpunet.utils.to_categorical(y_train, np.max(y_train) + 1)
    assert x_train.shape == (400, max_words) and set(np.unique(x_train)) == {0.0, 1.0}
    model = Sequential([Dense(64, input_shape=(max_words,)), Activation("relu"), Dropout(0.5),
                        Dense(num_classes), Activation("softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0, validation_split=0.1)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0], history.history["loss"]
    assert history.history["val_accuracy"][-1] > 0.8


def test_imdb_embedding_pipeline_trains():
    from gpunet.layers import Dense, Embedding, GlobalAveragePooling1D
    from gpunet.models import Sequential
    gpunet.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    x = [list(rng.integers(1 + 50 * label, 51 + 50 * label, rng.integers(5, 40))) for label in y]
    x = sequence.pad_sequences(x, maxlen=30)
    assert x.shape == (300, 30) and x.dtype == np.int32 and (x[:, 0] == 0).any()
    model = Sequential([Embedding(101, 16, input_length=30), GlobalAveragePooling1D(), Dense(1, activation="sigmoid")])
    model.compile(loss="binary_crossentropy", optimizer=gpunet.optimizers.Adam(0.01), metrics=["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=5, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0], history.history["loss"]
    assert history.history["accuracy"][-1] > 0.9


# ---- errors ----

def fitted(**kwargs):
    t = Tokenizer(**kwargs)
    t.fit_on_texts(CORPUS)
    return t


def config_json(**changes):
    doc = json.loads(fitted().to_json())
    doc["config"].update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize("call,error,match", [
    (lambda: fitted().texts_to_matrix(["a"], mode="foo"), ValueError,
     "expected one of binary, count, tfidf, freq, received 'foo'"),
    (lambda: Tokenizer().sequences_to_matrix([[1]], mode="foo"), ValueError, "received 'foo'"),
    (lambda: Tokenizer().sequences_to_matrix([[1]]), ValueError, "Specify a dimension"),
    (lambda: Tokenizer(num_words=5).sequences_to_matrix([[1]], mode="tfidf"), ValueError, "before using tfidf"),
    (lambda: Tokenizer(num_words=5).sequences_to_matrix([[1, -2]]), ValueError, "must be >= 0, received -2"),
    (lambda: Tokenizer(num_words=5).sequences_to_matrix([[1.5]]), TypeError, "int word indices, .* float64"),
    (lambda: Tokenizer().fit_on_texts("one text"), TypeError, "received one str .* wrap it in a list"),
    (lambda: fitted().texts_to_sequences("one text"), TypeError, "wrap it in a list"),
    (lambda: Tokenizer().fit_on_texts([None]), TypeError, "expects a text .str., received NoneType"),
    (lambda: Tokenizer(num_words=2.5), ValueError, "num_words must be None or an int >= 0, received 2.5"),
    (lambda: Tokenizer(oov=1), TypeError, "Unrecognized keyword arguments"),
    (lambda: text.hashing_trick("a", 1), ValueError, "n .the size of the hashing space. must be an int >= 2"),
    (lambda: text.hashing_trick("a", 5, "sha1"), ValueError, "None, 'md5' or a function, received 'sha1'"),
    (lambda: sequence.make_sampling_table(0), ValueError, "size must be a positive int, received 0"),
    (lambda: sequence.TimeseriesGenerator([1, 2], [1], 1), ValueError, "Data length is 2 while target length is 1"),
    (lambda: sequence.TimeseriesGenerator([1, 2], [1, 2], 1, stride=0), ValueError, "stride must be a positive"),
    (lambda: sequence.TimeseriesGenerator([1, 2], [1, 2], 5), ValueError, "start_index\\+length=5 > end_index=1"),
])
def test_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


MALFORMED_TOKENIZER_JSON = [
    ("{not json", "the text is not valid JSON"),
    ("[1, 2]", 'expected {"class_name": "Tokenizer", "config": {...}} .*received list'),
    ('{"class_name": "Tokenizer"}', "received an object with keys \\['class_name'\\]"),
    ("[" * 100000, "nested too deep"),
    (config_json(analyzer="os.system"), "unknown config keys \\['analyzer'\\]"),
    (json.dumps({"config": {"num_words": 3}}), "config lacks \\['index_docs'"),
    (config_json(num_words="10"), "config\\['num_words'\\] must be null or an int >= 0, received '10'"),
    (config_json(lower=1), "config\\['lower'\\] must be true or false, received 1"),
    (config_json(oov_token=5), "oov_token'\\] must be null or a string"),
    (config_json(word_counts={"a": 1}), "config\\['word_counts'\\] must be the JSON text of an object, received dict"),
    (config_json(word_docs="[1]"), "config\\['word_docs'\\] must hold a JSON object, received list"),
    (config_json(word_index="{oops"), "config\\['word_index'\\] is not valid JSON"),
    (config_json(word_index='{"a": "1"}'), "config\\['word_index'\\]\\['a'\\] must be an index .int >= 0., received '1'"),
    (config_json(index_word='{"x": "a"}'), "config\\['index_word'\\] keys must be int indices, received 'x'"),
    (config_json(index_docs='{"1": -3}'), "must be a count .int >= 0., received -3"),
]


# Ids from the expected message: the documents hold a fitted tokenizer's sets, whose order changes
# from one process to the next, and pytest-xdist needs every worker to collect the same ids.
@pytest.mark.parametrize("doc,match", MALFORMED_TOKENIZER_JSON, ids=[f"{i}-{m[:40]}" for i, (_, m) in
                                                                      enumerate(MALFORMED_TOKENIZER_JSON)])
def test_tokenizer_from_json_refuses_malformed_text(doc, match):
    with pytest.raises(ValueError, match=match):
        tokenizer_from_json(doc)


def test_tokenizer_json_size_bound_and_round_trip():
    t = fitted(num_words=5, oov_token="<OOV>")
    loaded = tokenizer_from_json(t.to_json(indent=2).encode())
    for name in STATE + ["num_words", "oov_token", "filters", "split", "lower", "char_level"]:
        assert getattr(loaded, name) == getattr(t, name), name
    loaded.fit_on_texts(["brand new words"])  # tf.keras's loaded tokenizer raises KeyError here
    assert loaded.word_docs["brand"] == 1 and loaded.document_count == t.document_count + 1
    with gpunet.saving.config_limits(max_config_bytes=100):
        with pytest.raises(ValueError, match="more than the limit of 100 .*max_config_bytes"):
            tokenizer_from_json(t.to_json())
    with pytest.raises(TypeError, match="received dict"):
        tokenizer_from_json(json.loads(t.to_json()))
