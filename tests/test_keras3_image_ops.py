"""Keras 3's keras.ops.image in gpunet (gpunet.ops.image: autodiff/keras3_image_ops.py, keras3_image_sampling.py)
against Keras 3 on torch: values and gradients (torch autograd, random upstream gradient, float64), integer
images, bad arguments; and the same ops on each backend (under --gpu-dryrun-strict: device arrays that follow
CuPy's rules)."""
import numpy as np
import pytest

from gpunet import backend as B
from gpunet import ops as gops
from gpunet.autodiff import Tensor, gradients
from gpunet.autodiff import keras3_image_ops
from keras_support import keras_float64_on_numpy, keras_on_torch, matches_torch

keras = keras_on_torch()
KI = keras.ops.image
torch = pytest.importorskip("torch")
I = gops.image  # noqa: E741

RNG = np.random.default_rng(7)
IMG = RNG.standard_normal((2, 7, 9, 3))
RGB = RNG.uniform(0.0, 1.0, (2, 5, 4, 3))
HSV = RNG.uniform(-0.5, 1.5, (2, 3, 5, 4))
VOL = RNG.standard_normal((2, 5, 6, 4, 2))
COORDS = RNG.uniform(-2.5, 9.5, (3, 4, 6))
COORDS[2] = RNG.uniform(-1.5, 3.5, (4, 6))
TRANSFORMS = np.array([[1.1, 0.2, -0.5, -0.1, 0.9, 0.7, 0, 0], [0.8, -0.3, 1.2, 0.25, 1.05, -0.6, 0, 0]])
START = np.array([[0, 0], [0, 7], [9, 0], [9, 7]], float)
END = np.array([[0.5, 0.3], [0.2, 6.5], [8.4, -0.6], [9.3, 6.8]])
SCALE, SHIFT = np.array([1.7, 0.6]), np.array([-0.3, 1.2])


@pytest.fixture(autouse=True)
def _float64_on_numpy():
    with keras_float64_on_numpy(keras):
        yield


def _same(name, *args, **kwargs):
    """gpunet's ``ops.image.<name>`` and Keras 3's, called with the tensors first and then ``args``/``kwargs``."""
    return (lambda *t: getattr(I, name)(*t, *args, **kwargs)), (lambda *t: getattr(KI, name)(*t, *args, **kwargs))


def _with_constant(name, constant, *args, **kwargs):
    """As `_same`, with a constant second argument (Keras 3 on torch writes into a transform in place)."""
    return (lambda t: getattr(I, name)(t, constant, *args, **kwargs),
            lambda t: getattr(KI, name)(t, torch.tensor(constant), *args, **kwargs))


CL, CF = {"data_format": "channels_last"}, {"data_format": "channels_first"}
CASES = {
    "resize bilinear down": (*_same("resize", (4, 5), **CL), [IMG]),
    "resize bilinear up": (*_same("resize", (11, 13), **CL), [IMG]),
    "resize nearest": (*_same("resize", (5, 13), "nearest", **CL), [IMG]),
    "resize bicubic": (*_same("resize", (11, 4), "bicubic", **CL), [IMG]),
    "resize bilinear antialias": (*_same("resize", (3, 4), antialias=True, **CL), [IMG]),
    "resize bicubic antialias": (*_same("resize", (4, 17), "bicubic", antialias=True, **CL), [IMG]),
    "resize crop_to_aspect_ratio": (*_same("resize", (4, 3), crop_to_aspect_ratio=True, **CL), [IMG]),
    "resize pad_to_aspect_ratio": (*_same("resize", (10, 4), pad_to_aspect_ratio=True, fill_value=0.5, **CL),
                                   [IMG]),
    "resize channels_first": (*_same("resize", (5, 4), **CF), [IMG]),
    "resize unbatched": (*_same("resize", (5, 4), **CL), [IMG[0]]),
    "affine bilinear": (*_with_constant("affine_transform", TRANSFORMS, data_format="channels_last"), [IMG]),
    "affine nearest wrap": (*_with_constant("affine_transform", TRANSFORMS, "nearest", "wrap", **CL), [IMG]),
    "affine reflect unbatched": (*_with_constant("affine_transform", TRANSFORMS[1], "bilinear", "reflect", **CL),
                                 [IMG[0]]),
    "affine mirror channels_first": (*_with_constant("affine_transform", TRANSFORMS, "bilinear", "mirror", 0, **CF),
                                     [IMG]),
    "affine nearest fill": (*_with_constant("affine_transform", TRANSFORMS, "bilinear", "nearest", **CL), [IMG]),
    "affine constant fill_value": (*_with_constant("affine_transform", TRANSFORMS, fill_value=0.7, **CL), [IMG]),
    "crop_images": (*_same("crop_images", 1, 2, target_height=4, right_cropping=1, **CL), [IMG]),
    "crop_images cf unbatched": (*_same("crop_images", None, 1, 2, target_width=5, target_height=3, **CF),
                                 [IMG[0].transpose(2, 0, 1)]),
    "pad_images": (*_same("pad_images", 1, 2, target_height=9, right_padding=3, **CL), [IMG]),
    "pad_images cf": (*_same("pad_images", None, None, 2, 1, target_height=10, target_width=12, **CF),
                      [IMG.transpose(0, 3, 1, 2)]),
    "extract_patches": (*_same("extract_patches", 3, **CL), [IMG]),
    "extract_patches strided": (*_same("extract_patches", (2, 3), (1, 2), **CL), [IMG]),
    "extract_patches same": (*_same("extract_patches", (3, 2), 2, padding="same", **CL), [IMG]),
    "extract_patches dilated": (*_same("extract_patches", 2, 1, dilation_rate=2, **CL), [IMG]),
    "extract_patches cf": (*_same("extract_patches", (2, 2), **CF), [IMG]),
    "extract_patches unbatched": (*_same("extract_patches", (2, 3), 1, **CL), [IMG[0]]),
    "extract_patches 3d": (*_same("extract_patches", (2, 3, 2), 2, padding="same", **CL), [VOL]),
    "extract_patches_3d": (*_same("extract_patches_3d", (2, 3, 2), 1, **CL), [VOL]),
    "rgb_to_grayscale": (*_same("rgb_to_grayscale", **CL), [RGB]),
    "rgb_to_grayscale cf": (*_same("rgb_to_grayscale", **CF), [RGB.transpose(0, 3, 1, 2)]),
    "rgb_to_hsv": (*_same("rgb_to_hsv", **CL), [RGB]),
    "rgb_to_hsv cf unbatched": (*_same("rgb_to_hsv", **CF), [RGB[0].transpose(2, 0, 1)]),
    "hsv_to_rgb": (*_same("hsv_to_rgb", **CF), [HSV]),
    "hsv_to_rgb cl": (*_same("hsv_to_rgb", **CL), [HSV.transpose(0, 2, 3, 1)]),
    "gaussian_blur": (*_same("gaussian_blur", **CL), [IMG]),
    "gaussian_blur 5x5 sigmas": (*_same("gaussian_blur", (5, 5), (1.5, 0.5), **CL), [IMG]),
    "gaussian_blur cf unbatched": (*_same("gaussian_blur", (3, 3), (0.75, 2.0), **CF), [IMG[0]]),
    "sobel_edges": (*_same("sobel_edges", **CL), [IMG]),
    "sobel_edges cf": (*_same("sobel_edges", **CF), [IMG]),
}
for _order in (0, 1):
    for _mode in ("constant", "nearest", "wrap", "mirror", "reflect"):
        CASES[f"map_coordinates {_order} {_mode}"] = (
            lambda x, _o=_order, _m=_mode: I.map_coordinates(x, COORDS, _o, _m, 0.25),
            lambda x, _o=_order, _m=_mode: KI.map_coordinates(x, torch.tensor(COORDS), _o, _m, 0.25), [IMG[0, :5]])
CASES["map_coordinates 1 coordinates"] = (lambda x, c: I.map_coordinates(x, c, 1, "reflect"),
                                          lambda x, c: KI.map_coordinates(x, c, 1, "reflect"), [IMG[0, :5], COORDS])
CASES["map_coordinates list 2d"] = (lambda x, a, b: I.map_coordinates(x, [a, b], 1),
                                    lambda x, a, b: KI.map_coordinates(x, [a, b], 1),
                                    [IMG[0, :, :, 0], COORDS[0, :2], COORDS[1, :2]])


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_match_keras3_on_torch(name):
    mine, theirs, arrays = CASES[name]
    matches_torch(mine, theirs, arrays)


# Keras 3 on torch computes these partly in float32 (all of SSIM, scale_and_translate's weights, the
# homography): gpunet's are float64 throughout
@pytest.mark.parametrize("name, mine, theirs, arrays", [
    ("perspective", lambda t: I.perspective_transform(t, START, END, **CL),
     lambda t: KI.perspective_transform(t, torch.tensor(START), torch.tensor(END), **CL), [IMG]),
    ("perspective nearest cf", lambda t: I.perspective_transform(t, START, END, "bilinear", 0.5, **CF),
     lambda t: KI.perspective_transform(t, torch.tensor(START), torch.tensor(END), "bilinear", 0.5, **CF),
     [IMG.transpose(0, 3, 1, 2)]),
    ("ssim", *_same("ssim", **CL), [RGB[:, :, :4].repeat(3, 1).repeat(3, 2), RNG.uniform(0, 1, (2, 15, 12, 3))]),
    ("ssim cf unbatched", *_same("ssim", 2.0, 5, 1.0, **CF), [RNG.uniform(0, 1, (3, 9, 8)),
                                                              RNG.uniform(0, 1, (3, 9, 8))]),
] + [(f"scale_and_translate {m} {aa}", lambda t, _m=m, _a=aa: I.scale_and_translate(
        t, (2, 12, 5, 3), SCALE, SHIFT, (1, 2), _m, _a),
      lambda t, _m=m, _a=aa: KI.scale_and_translate(t, (2, 12, 5, 3), torch.tensor(SCALE), torch.tensor(SHIFT),
                                                    (1, 2), _m, _a), [IMG])
     for m in ("linear", "bicubic", "lanczos3", "lanczos5") for aa in (True, False)])
def test_float32_in_keras3_matches_to_float32_precision(name, mine, theirs, arrays):
    g_in = [Tensor(np.array(a), requires_grad=True) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    got, expected = mine(*g_in), theirs(*t_in)
    upstream = np.random.default_rng(5).standard_normal(tuple(expected.shape))
    wanted = torch.autograd.grad(expected, t_in, torch.as_tensor(upstream))
    for g, w in [(got.data, expected.detach().numpy())] + list(zip(gradients(got, g_in, upstream), wanted)):
        w = np.asarray(w)
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-4, atol=1e-5 * np.abs(w).max())


def _finite_difference_check(fn, x, eps=1e-6):
    """The tape's gradient of ``sum(fn(x) * upstream)`` against central differences, for a random upstream."""
    t = Tensor(x, requires_grad=True)
    out = fn(t)
    upstream = np.random.default_rng(3).standard_normal(out.shape)
    (got,) = gradients(out, [t], upstream)
    flat, want = x.reshape(-1), np.zeros(x.size)
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = eps
        up, down = fn(Tensor((flat + step).reshape(x.shape))), fn(Tensor((flat - step).reshape(x.shape)))
        want[i] = np.sum((up.data - down.data) * upstream) / (2 * eps)
    np.testing.assert_allclose(np.asarray(got).reshape(-1), want, rtol=1e-6, atol=1e-8)


def test_transform_and_projective_gradients_by_finite_differences():
    with B.use_backend("numpy"):
        # (away from integer coordinates, where bilinear sampling has kinks)
        shifted = TRANSFORMS * 0.97 + np.r_[0, 0, 0.0123, 0, 0, 0.0071, 0, 0]
        _finite_difference_check(lambda tr: I.affine_transform(IMG, tr, **CL), shifted)
        projective = shifted[0] + np.r_[np.zeros(6), 0.01, -0.02]
        _finite_difference_check(lambda tr: I.affine_transform(IMG, tr, fill_mode="reflect", **CL), projective)
        _finite_difference_check(lambda x: I.elastic_transform(x, 3.0, 1.0, seed=4, **CL), IMG[:1, :4, :5])


def test_projective_affine_transform_is_the_perspective_transform():
    """With ``c0``, ``c1`` the documented ``k = c0 x + c1 y + 1`` (what perspective_transform computes)."""
    with B.use_backend("numpy"):
        from gpunet.autodiff.keras3_image_sampling import homography
        h = homography(START, END)
        np.testing.assert_allclose(I.affine_transform(IMG, h, **CL).data,
                                   I.perspective_transform(IMG, START, END, **CL).data, rtol=1e-12, atol=1e-12)


def test_integer_images_follow_keras3():
    u8 = RNG.integers(0, 256, (7, 9, 3)).astype("uint8")
    ints = RNG.integers(-50, 50, (6, 5)).astype("int32")
    coords = torch.tensor(COORDS[:2, :3])
    pairs = [(I.resize(u8, (5, 4), "bicubic"), KI.resize(torch.tensor(u8), (5, 4), "bicubic")),
             (I.resize(u8, (11, 3)), KI.resize(torch.tensor(u8), (11, 3))),
             (I.rgb_to_grayscale(u8), KI.rgb_to_grayscale(torch.tensor(u8))),
             (I.map_coordinates(ints, COORDS[:2, :3], 1, fill_value=3.7),
              KI.map_coordinates(torch.tensor(ints), coords, 1, fill_value=3.7)),
             (I.map_coordinates(ints, COORDS[:2, :3], 0, "wrap"), KI.map_coordinates(torch.tensor(ints), coords, 0,
                                                                                      "wrap")),
             (I.extract_patches(u8, 2), KI.extract_patches(torch.tensor(u8), 2)),
             (I.pad_images(u8, 1, 1, 1, 1), KI.pad_images(torch.tensor(u8), 1, 1, 1, 1))]
    for got, want in pairs:
        assert got.dtype == want.numpy().dtype
        np.testing.assert_array_equal(got.data, want.numpy())


def test_elastic_transform_shape_seed_and_identity():
    images = RNG.uniform(0, 1, (2, 3, 8, 6)).astype("float32")
    a = I.elastic_transform(images, seed=5, data_format="channels_first")
    b = I.elastic_transform(images, seed=5, data_format="channels_first")
    assert a.shape == images.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a.data, b.data)
    assert not np.allclose(a.data, images)
    same = I.elastic_transform(images[0], alpha=0.0, sigma=2.0, data_format="channels_first")
    np.testing.assert_allclose(same.data, images[0], rtol=1e-6)
    assert I.elastic_transform(IMG, 5.0, 1.0, "nearest", "constant", seed=1, **CL).shape == IMG.shape


def test_the_namespace_is_keras3s():
    from gpunet.autodiff import keras3_image_sampling
    names = keras3_image_ops.__all__
    assert sorted(names) == sorted(n for n in dir(KI) if not n.startswith("_"))
    assert set(keras3_image_sampling.__all__) <= set(names)
    for name in names:
        public = getattr(I, name)
        assert getattr(public, "__wrapped__", public) is getattr(keras3_image_ops, name) and public.__doc__
    from gpunet.ops import image
    assert image is I and "resize" not in gops.__all__


def test_symbolic_inputs_record_a_layer():
    import gpunet
    x = gpunet.layers.Input((8, 6, 3))
    model = gpunet.models.Model(x, I.rgb_to_grayscale(I.resize(x, (4, 3))))
    images = RNG.uniform(0, 1, (2, 8, 6, 3)).astype("float32")
    got = model.predict(images, verbose=0)
    np.testing.assert_allclose(got, I.rgb_to_grayscale(I.resize(images, (4, 3))).data, rtol=1e-6)


@pytest.mark.parametrize("call, error, message", [
    (lambda: I.resize(IMG, (4, 4), "lanczos3"), ValueError, "interpolation='lanczos3' is not supported"),
    (lambda: I.resize(IMG, (4, 4), "area"), ValueError, r"resize: `interpolation` must be one of \['bilinear'"),
    (lambda: I.resize(IMG, (4,)), ValueError, r"expected `size` a tuple of 2 positive ints .* received \(4,\)"),
    (lambda: I.resize(IMG, (4, 0)), ValueError, "positive ints"),
    (lambda: I.resize(IMG[0, 0], (4, 4)), ValueError, r"rank 3 \(a single image\) or 4 \(a batch\), received shape "
                                                      r"\(9, 3\)"),
    (lambda: I.resize(IMG, (4, 4), crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), ValueError,
     "only one of"),
    (lambda: I.resize(IMG, (4, 4), fill_mode="reflect"), ValueError, r"`fill_mode` must be one of \['constant'\]"),
    (lambda: I.resize(IMG, (4, 4), data_format="nhwc"), ValueError, "`data_format` must be 'channels_last'"),
    (lambda: I.affine_transform(IMG, TRANSFORMS[:, :6]), ValueError, r"transform of shape \(8,\) or \(batch, 8\), "
                                                                    r"received shape \(2, 6\)"),
    (lambda: I.affine_transform(IMG, np.zeros((3, 8))), ValueError, r"one transform or one per image \(2\), "
                                                                    "received 3"),
    (lambda: I.affine_transform(IMG, TRANSFORMS, "bicubic"), ValueError, "`interpolation` must be one of"),
    (lambda: I.affine_transform(IMG, TRANSFORMS, fill_mode="edge"), ValueError, r"`fill_mode` must be one of "
                                                                                r"\['constant', 'nearest'"),
    (lambda: I.map_coordinates(IMG, COORDS, 1), ValueError, r"rank of `inputs` \(4\), received 3 coordinate arrays"),
    (lambda: I.map_coordinates(IMG[0], COORDS, 3), NotImplementedError, "`order` must be 0 or 1"),
    (lambda: I.map_coordinates(IMG[0, 0, :, 0], np.zeros(1), 1), ValueError, "coordinates of rank 2 or more"),
    (lambda: I.crop_images(IMG, 1, 1, 1, 1, 2, 2), ValueError, "must specify exactly two of top_cropping, "
                                                               "bottom_cropping, target_height"),
    (lambda: I.crop_images(IMG, 5, 0, target_height=3, target_width=2), ValueError, "does not fit images of height 7"),
    (lambda: I.crop_images(IMG, -1, 0, target_height=3, target_width=2), ValueError, "top_cropping must be an int "
                                                                                     ">= 0, received top_cropping=-1"),
    (lambda: I.pad_images(IMG, 1, 1, target_height=5, target_width=12), ValueError, "bottom_padding must be >= 0, "
                                                                                    "received bottom_padding=-3"),
    (lambda: I.pad_images(IMG, 1, 1), ValueError, "must specify exactly two of top_padding"),
    (lambda: I.extract_patches(IMG, "3"), TypeError, "expected `size` an int or a tuple, received '3' of type str"),
    (lambda: I.extract_patches(IMG, (2, 2, 2, 2)), ValueError, "a tuple of length 2 or 3"),
    (lambda: I.extract_patches(IMG, 8), ValueError, r"a patch of \(8, 8\) .* does not fit images of spatial shape"),
    (lambda: I.extract_patches(IMG, 2, padding="full"), ValueError, r"`padding` must be one of \['valid', 'same'\]"),
    (lambda: I.rgb_to_grayscale(IMG[..., :2]), ValueError, r"expected 1 or 3 channels on axis 3, received shape"),
    (lambda: I.rgb_to_hsv(RGB, data_format="channels_first"), ValueError, "expected 3 channels on axis 1"),
    (lambda: I.rgb_to_hsv(RGB.astype("int32")), ValueError, "expected images of a float dtype, received int32"),
    (lambda: I.hsv_to_rgb(RGB[0, 0]), ValueError, "rank 3 .* or 4"),
    (lambda: I.gaussian_blur(IMG, (3, 0)), ValueError, "`kernel_size` must be an int >= 1 or a tuple of 2"),
    (lambda: I.gaussian_blur(IMG, sigma=(1.0, -1.0)), ValueError, "`sigma` must be a positive number"),
    (lambda: I.perspective_transform(IMG, START[:3], END[:3]), ValueError, r"start_points of shape \(4, 2\)"),
    (lambda: I.perspective_transform(IMG, START, np.stack([END, END])), ValueError, "the same shape"),
    (lambda: I.elastic_transform(IMG, sigma=0.0), ValueError, "positive number `sigma`"),
    (lambda: I.scale_and_translate(IMG, (2, 3, 3, 3), SCALE, SHIFT, (1, 2), "area"), ValueError,
     "`method` must be one of"),
    (lambda: I.scale_and_translate(IMG, (3, 3), SCALE, SHIFT, (1, 2), "linear"), ValueError,
     r"output_shape of rank 4"),
    (lambda: I.scale_and_translate(IMG, (2, 3, 3, 3), SCALE, SHIFT, (1,), "linear"), ValueError,
     r"scale and translation of shape \(1,\)"),
    (lambda: I.sobel_edges(IMG[0]), ValueError, "a batch of images of rank 4"),
    (lambda: I.ssim(RGB, RGB[:, :4]), ValueError, "images of one shape"),
    (lambda: I.ssim(RGB, RGB), ValueError, "smaller than the filter_size 11"),
])
def test_bad_arguments_are_refused_clearly(call, error, message):
    with pytest.raises(error, match=message):
        call()


def _backend_cases():
    yield lambda t: I.resize(t, (11, 4), "bicubic", **CL), [IMG]
    yield lambda t: I.resize(t, (3, 5), antialias=True, pad_to_aspect_ratio=True, **CF), [IMG]
    yield lambda t: I.resize(t, (5, 13), "nearest", crop_to_aspect_ratio=True, **CL), [IMG]
    yield lambda t: I.affine_transform(t, TRANSFORMS, fill_mode="reflect", **CL), [IMG]
    yield lambda t, tr: I.affine_transform(t, tr, "nearest", "mirror", **CL), [IMG, TRANSFORMS]
    yield lambda t: I.perspective_transform(t, START, END, **CL), [IMG]
    yield lambda t, c: I.map_coordinates(t, c, 1, "wrap", 0.5), [IMG[0, :5], COORDS]
    yield lambda t: I.map_coordinates(t, COORDS, 0, "constant", 0.5), [IMG[0, :5]]
    yield lambda t: I.crop_images(I.pad_images(t, 1, 2, 3, 4), 2, 1, 1, 2), [IMG]
    yield lambda t: I.extract_patches(t, (2, 3), 2, 1, "same"), [IMG]
    yield lambda t: I.extract_patches_3d(t, 2, 1, 2), [VOL]
    yield lambda t: I.hsv_to_rgb(I.rgb_to_hsv(t)) * I.rgb_to_grayscale(t), [RGB]
    yield lambda t: I.gaussian_blur(t, (5, 3), (1.0, 2.0), **CL) + I.sobel_edges(t, **CL)[..., 0], [IMG]
    yield lambda t: I.elastic_transform(t, 4.0, 1.5, seed=2, **CL), [IMG]
    yield lambda t: I.scale_and_translate(t, (2, 12, 5, 3), SCALE, SHIFT, (1, 2), "lanczos3"), [IMG]
    yield lambda a, b: I.ssim(a, b, filter_size=5), [IMG, IMG[::-1]]


def _run(fn, arrays, backend):
    ins = [Tensor(backend.asarray(a), requires_grad=True) for a in arrays]
    out = fn(*ins)
    grads = gradients(out, ins, backend.xp.full(out.shape, 0.5, out.dtype))
    return backend.to_host(out.data), [backend.to_host(g) for g in grads]


@pytest.mark.parametrize("case", range(len(list(_backend_cases()))))
def test_ops_run_on_each_backend(ops, case):
    """On each backend (CuPy: under --gpu-dryrun-strict, emulated arrays that refuse NumPy operands and implicit
    host copies), values and gradients as on NumPy."""
    fn, arrays = list(_backend_cases())[case]
    with B.use_backend("numpy"):
        want_value, want_grads = _run(fn, arrays, B.get_backend())
    value, grads = _run(fn, arrays, ops)
    np.testing.assert_allclose(value, want_value, rtol=1e-10, atol=1e-12)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)
