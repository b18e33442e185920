"""ijepa: I-JEPA in C (ijepa.c) from Python, through its shared library (src/api/api.h).

    import ijepa
    m = ijepa.Model("checkpoint.safetensors")             # any layout ijepa.c reads
    x = m.embed(images)                                    # uint8 [n, h, w, c] -> float32 [n, dim]
    x, files, labels, classes = m.embed_folder("photos/")  # images of any size
    ijepa.train("recipe.yaml", "runs/x", max_steps=100)    # a training run, as `ijepa train`

Errors from the library raise IjepaError with its one-line message."""
import ctypes
import ctypes.util
import os

import numpy as np

__all__ = ["Model", "train", "version", "IjepaError"]


class IjepaError(RuntimeError):
    pass


def _load_library():
    here = os.path.dirname(os.path.abspath(__file__))
    for path in (os.environ.get("IJEPA_LIB"), os.path.join(here, "libijepa.so"), ctypes.util.find_library("ijepa")):
        if path and (os.path.exists(path) or not os.path.isabs(path)):
            try:
                return ctypes.CDLL(path)
            except OSError:
                continue
    raise ImportError("libijepa.so not found: pip install . from the ijepa.c repository, or set IJEPA_LIB")


_lib = _load_library()
_P, _I, _S, _D = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_double
_F = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
_U8 = np.ctypeslib.ndpointer(np.uint8, flags="C_CONTIGUOUS")
for name, res, args in [
    ("ij_last_error", _S, []), ("ij_api_version", _S, []),
    ("ij_api_load", _P, [_S, _I, _S]), ("ij_api_free", None, [_P]),
    ("ij_api_shape", None, [_P, ctypes.POINTER(_I * 6)]), ("ij_api_feature_dim", _I, [_P, _I]),
    ("ij_api_set_options", _I, [_P, _I, _S, _D]),
    ("ij_api_embed_images", _I, [_P, _U8, _I, _I, _I, _I, _I, _F]),
    ("ij_api_data_open", _P, [_S, _P]), ("ij_api_data_count", _I, [_P]), ("ij_api_data_free", None, [_P]),
    ("ij_api_data_file", _S, [_P, _I]), ("ij_api_data_label", _I, [_P, _I]), ("ij_api_data_class", _S, [_P, _I]),
    ("ij_api_embed_data", _I, [_P, _P, _I, _F]), ("ij_api_train", _I, [_S, _S, _I]),
]:
    f = getattr(_lib, name)
    f.restype, f.argtypes = res, args


def _check(ok):
    if not ok:
        raise IjepaError(_lib.ij_last_error().decode())


def version():
    return _lib.ij_api_version().decode()


_POOLS = {"last": 0, "last4": 1}


class Model:
    """A checkpoint's encoder for frozen features. encoder: "target" (the EMA encoder, as `ijepa
    embed`) or "context"; resize: how images that are not the model's size become its input ("auto",
    "crop": timm's resize-shorter-side and centre crop, "squash"); heads: for a file that does not say."""

    def __init__(self, checkpoint, heads=0, encoder="target", bf16=False, resize="auto", crop_fraction=0.875):
        self._h = _lib.ij_api_load(os.fsencode(checkpoint), heads, encoder.encode())
        _check(self._h)
        _check(_lib.ij_api_set_options(self._h, int(bf16), resize.encode(), crop_fraction) == 0)
        s = (_I * 6)()
        _lib.ij_api_shape(self._h, ctypes.byref(s))
        self.shape = dict(zip(("img_size", "channels", "patch_size", "embed_dim", "depth", "num_heads"), s))

    def close(self):
        if getattr(self, "_h", None):
            _lib.ij_api_free(self._h)
            self._h = None

    __del__ = close

    def feature_dim(self, pool="last"):
        return _lib.ij_api_feature_dim(self._h, _POOLS[pool])

    def embed(self, images, pool="last"):
        """uint8 images [n, h, w, c], [h, w, c] or gray [n, h, w] -> float32 features [n, dim]."""
        x = np.asarray(images)
        if x.dtype != np.uint8:
            raise TypeError("images must be uint8 (0..255), got %s" % x.dtype)
        if x.ndim == 3 and x.shape[-1] in (1, 3) and self.shape["channels"] == x.shape[-1]:
            x = x[None]
        elif x.ndim == 3:
            x = x[..., None]
        if x.ndim != 4:
            raise ValueError("images must be [n, h, w, c], got shape %s" % (x.shape,))
        x = np.ascontiguousarray(x)
        out = np.empty((x.shape[0], self.feature_dim(pool)), np.float32)
        _check(_lib.ij_api_embed_images(self._h, x, x.shape[0], x.shape[1], x.shape[2], x.shape[3], _POOLS[pool],
                                        out) == 0)
        return out

    def embed_folder(self, data, pool="last"):
        """Any `--data` source -> (features [n, dim], files, labels or None, class names or None)."""
        d = _lib.ij_api_data_open(os.fsencode(data), self._h)
        _check(d)
        try:
            n = _lib.ij_api_data_count(d)
            out = np.empty((n, self.feature_dim(pool)), np.float32)
            _check(_lib.ij_api_embed_data(self._h, d, _POOLS[pool], out) == 0)
            files = [_lib.ij_api_data_file(d, i).decode() for i in range(n)]
            labels = np.array([_lib.ij_api_data_label(d, i) for i in range(n)], np.int64)
            classes = []
            while _lib.ij_api_data_class(d, len(classes)) is not None:
                classes.append(_lib.ij_api_data_class(d, len(classes)).decode())
        finally:
            _lib.ij_api_data_free(d)
        if (labels < 0).all():
            labels, classes = None, None
        return out, files, labels, classes or None


def train(config, out, max_steps=0):
    """A training run from a YAML configuration (official layout) into run folder `out`, as `ijepa
    train --config CONFIG --out OUT [--steps N]`. Returns 0, or 128 + N if signal N stopped it."""
    rc = _lib.ij_api_train(os.fsencode(config) if config else b"", os.fsencode(out), max_steps)
    _check(rc >= 0)
    return rc
