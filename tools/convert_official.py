#!/usr/bin/env python3
"""Convert an official I-JEPA checkpoint (PyTorch .pth.tar) into ijepa.c's safetensors layout.

  tools/convert_official.py IN.pth.tar OUT.safetensors [--model vit_huge] [--num-heads 16] ...

Needs only Python 3 and numpy: PyTorch is NOT used. A torch >= 1.6 checkpoint is a zip archive
holding <archive>/data.pkl (the pickled object) and one raw file per tensor storage
(<archive>/data/<key>). data.pkl is unpickled with a restricted Unpickler: torch's tensor
rebuild functions and storage classes are mapped to local stand-ins, and each storage is read
from the zip (lazily, only for the tensors written) with numpy. Any other global is replaced by an
inert placeholder, so nothing from the pickle is ever imported or executed.

Input: a dict {encoder, predictor, target_encoder, opt, scaler, epoch, ...} whose state-dict keys
start with "module." (the authors' release), or a bare encoder state dict. "module." prefixes are
stripped and non-tensor entries (opt, scaler, epoch, ...) are skipped.

Output: float32 tensors "encoder.<name>", "predictor.<name>", "target_encoder.<name>" (SPEC
section 6) and the model configuration in __metadata__, which `ijepa info|embed|probe
--checkpoint` read. With --encoder-only, or when the input holds a single encoder, the tensors of
one encoder are written with bare names ("<name>"); ijepa loads such a file into both encoders.

Inferred from the shapes: embed_dim, channels, patch_size, depth, mlp_dim, img_size (square
grid of pos_embed), pred_embed_dim, pred_depth, pred_mlp_dim. The number of heads is not
visible in the weights: pass --num-heads or --model. Options that can be inferred are checked
against the checkpoint.
"""
import argparse
import collections
import json
import math
import os
import pickle
import struct
import sys
import tarfile
import zipfile

import numpy as np

PRESETS = {  # name: (embed_dim, depth, num_heads, mlp_dim), as src/model/config.c
    "vit_tiny": (192, 12, 3, 768),
    "vit_small": (384, 12, 6, 1536),
    "vit_base": (768, 12, 12, 3072),
    "vit_large": (1024, 24, 16, 4096),
    "vit_huge": (1280, 32, 16, 5120),
    "vit_giant": (1408, 40, 16, 6144),
}
# Predictor used when the input has none (the official one: 384 wide, 12 deep, MLP 4x).
DEFAULT_PRED = (384, 12, 1536)

PARTS = ("encoder", "predictor", "target_encoder")
BLOCK_TENSORS = ("norm1.weight", "norm1.bias", "attn.qkv.weight", "attn.qkv.bias",
                 "attn.proj.weight", "attn.proj.bias", "norm2.weight", "norm2.bias",
                 "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight", "mlp.fc2.bias")


class ConvertError(Exception):
    pass


# ------------------------------------------------------------------------------------------
# Reading torch's zip serialization without torch
# ------------------------------------------------------------------------------------------
# storage class name -> numpy dtype string ("bf16" is handled by hand)
STORAGE_DTYPES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2", "BFloat16Storage": "bf16",
    "LongStorage": "i8", "IntStorage": "i4", "ShortStorage": "i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?", "ComplexFloatStorage": "c8",
    "ComplexDoubleStorage": "c16", "UntypedStorage": "u1",
}
FLOAT_KINDS = ("f4", "f8", "f2", "bf16")


class StorageType:
    """Stand-in for torch.FloatStorage etc.: only carries the element type."""

    def __init__(self, name):
        self.name = name
        self.kind = STORAGE_DTYPES[name]

    def __repr__(self):
        return "torch." + self.name


class LazyStorage:
    """One storage of the archive; its bytes are read from the zip on first use."""

    def __init__(self, reader, key, stype, numel):
        self.reader, self.key, self.stype, self.numel = reader, key, stype, numel

    @property
    def kind(self):
        return self.stype.kind

    def array(self):
        return self.reader.storage_array(self)


class LazyTensor:
    """A tensor as pickled by torch: (storage, offset, size, stride), all in elements."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, LazyStorage):
            raise ConvertError("unsupported tensor storage %r" % (storage,))
        self.storage = storage
        self.offset = int(offset)
        self.shape = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)
        if len(self.stride) != len(self.shape):
            raise ConvertError("tensor with %d sizes but %d strides" % (len(self.shape), len(self.stride)))

    @property
    def is_float(self):
        return self.storage.kind in FLOAT_KINDS

    def numpy_f32(self):
        """The tensor's values as a contiguous float32 array (little-endian)."""
        st = self.storage
        base = st.array()                        # 1-D, native byte order, st.numel elements
        numel = int(np.prod(self.shape, dtype=np.int64))
        if numel == 0:
            return np.zeros(self.shape, dtype="<f4")
        if self.offset < 0 or any(s < 0 for s in self.stride):
            raise ConvertError("storage %s: negative offset or stride" % st.key)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride))
        if last >= base.size:
            raise ConvertError("storage %s: tensor of shape %s reaches element %d, storage has %d"
                               % (st.key, list(self.shape), last, base.size))
        view = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.shape,
            strides=tuple(s * base.itemsize for s in self.stride), writeable=False)
        if st.kind == "bf16":                     # bfloat16 = the top 16 bits of a float32
            return (view.astype(np.uint32) << 16).view(np.float32).astype("<f4")
        return np.ascontiguousarray(view, dtype="<f4")


def _rebuild_tensor(storage, storage_offset, size, stride):
    return LazyTensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data


class Opaque:
    """Inert placeholder for any global the pickle names that we do not need (optimizer
    classes, numpy scalars, torch dtypes, ...): accepts every construction protocol."""
    _qualname = "?"

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def __repr__(self):
        return "<%s>" % self._qualname


_opaque_types = {}


def _opaque(module, name):
    key = module + "." + name
    if key not in _opaque_types:
        _opaque_types[key] = type("Opaque_" + name, (Opaque,), {"_qualname": key})
    return _opaque_types[key]


_SAFE_BUILTINS = {"set": set, "frozenset": frozenset, "slice": slice, "complex": complex,
                  "bytearray": bytearray, "list": list, "dict": dict, "tuple": tuple,
                  "int": int, "float": float, "bool": bool, "str": str, "bytes": bytes}


class TorchUnpickler(pickle.Unpickler):
    def __init__(self, f, reader):
        super().__init__(f, encoding="utf-8")
        self.reader = reader

    def find_class(self, module, name):
        if module == "torch._utils":
            if name == "_rebuild_tensor_v2":
                return _rebuild_tensor_v2
            if name == "_rebuild_tensor":
                return _rebuild_tensor
            if name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
                return _rebuild_parameter
        if module in ("torch", "torch.storage") and name in STORAGE_DTYPES:
            return StorageType(name)
        if module == "torch" and name == "Size":
            return tuple
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module in ("builtins", "__builtin__") and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        return _opaque(module, name)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise ConvertError("unsupported persistent id in data.pkl: %r" % (pid[:2],))
        _, stype, key, _location, numel = pid[:5]
        if not isinstance(stype, StorageType):
            raise ConvertError("unsupported storage type %r" % (stype,))
        return LazyStorage(self.reader, str(key), stype, int(numel))


LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"   # pickled 0x1950a86a20f9469cfc6c


class TorchZipReader:
    """Opens a torch >= 1.6 checkpoint (zip) and unpickles it lazily."""

    def __init__(self, path):
        self.path = path
        if not os.path.exists(path):
            raise ConvertError("%s: no such file" % path)
        if os.path.isdir(path):
            raise ConvertError("%s: is a directory, expected a .pth/.pth.tar file" % path)
        try:
            with open(path, "rb") as f:
                head = f.read(len(LEGACY_MAGIC))
        except OSError as e:
            raise ConvertError("%s: %s" % (path, e.strerror or e))
        if not zipfile.is_zipfile(path):
            if head.startswith(LEGACY_MAGIC) or _is_tar(path):
                raise ConvertError(
                    "%s: legacy (non-zip, torch < 1.6) serialization is not supported; re-save it "
                    "with torch >= 1.6: torch.save(torch.load(IN, map_location='cpu'), NEW)" % path)
            raise ConvertError("%s: not a zip archive, so not a torch >= 1.6 checkpoint "
                               "(truncated or corrupted file?)" % path)
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise ConvertError("%s: cannot read the zip archive: %s" % (path, e))
        names = self.zf.namelist()
        pkl = [n for n in names if n == "data.pkl" or
               (n.endswith("/data.pkl") and n.count("/") == 1)]
        if len(pkl) != 1:
            raise ConvertError("%s: zip archive without a single <archive>/data.pkl: not a torch "
                               "checkpoint" % path)
        self.prefix = pkl[0][:-len("data.pkl")]
        self.names = set(names)
        byteorder = "little"
        if self.prefix + "byteorder" in self.names:
            byteorder = self.zf.read(self.prefix + "byteorder").decode("ascii", "replace").strip()
        if byteorder not in ("little", "big"):
            raise ConvertError("%s: unknown byteorder record '%s'" % (path, byteorder))
        self.endian = "<" if byteorder == "little" else ">"
        self._cache_key, self._cache = None, None

    def load(self):
        try:
            with self.zf.open(self.prefix + "data.pkl") as f:
                return TorchUnpickler(f, self).load()
        except ConvertError:
            raise
        except Exception as e:  # noqa: BLE001 -- any failure of a corrupted pickle
            raise ConvertError("%s: cannot unpickle data.pkl: %s" % (self.path, e))

    def storage_array(self, st):
        if self._cache_key == st.key:
            return self._cache
        name = self.prefix + "data/" + st.key
        if name not in self.names:
            raise ConvertError("%s: storage '%s' is missing from the archive" % (self.path, name))
        try:
            raw = self.zf.read(name)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise ConvertError("%s: cannot read storage '%s': %s" % (self.path, name, e))
        kind = st.kind
        dt = np.dtype(self.endian + ("u2" if kind == "bf16" else kind))
        if st.stype.name == "UntypedStorage":
            dt = np.dtype("u1")
        if len(raw) < st.numel * dt.itemsize:
            raise ConvertError("%s: storage '%s' has %d bytes, expected %d"
                               % (self.path, name, len(raw), st.numel * dt.itemsize))
        arr = np.frombuffer(raw, dtype=dt, count=st.numel)
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        self._cache_key, self._cache = st.key, arr
        return arr


def _is_tar(path):
    try:
        return tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError):
        return False


# ------------------------------------------------------------------------------------------
# State dicts and the model configuration
# ------------------------------------------------------------------------------------------
def strip_module(sd, part):
    out = collections.OrderedDict()
    for k, v in sd.items():
        if not isinstance(k, str):
            continue
        name = k[len("module."):] if k.startswith("module.") else k
        if not isinstance(v, LazyTensor):
            continue                          # e.g. a stray non-tensor entry
        if name in out:
            raise ConvertError("%s: tensor '%s' appears twice (with and without 'module.')"
                               % (part, name))
        out[name] = v
    return out


def is_state_dict(x):
    return isinstance(x, dict) and len(x) > 0 and any(isinstance(v, LazyTensor) for v in x.values())


def find_parts(obj, path):
    """Returns an ordered dict part -> state dict (names without 'module.')."""
    if not isinstance(obj, dict):
        raise ConvertError("%s: the checkpoint holds a %s, expected a dict" % (path, type(obj).__name__))
    parts = collections.OrderedDict()
    for p in PARTS:
        if p in obj and is_state_dict(obj[p]):
            parts[p] = strip_module(obj[p], p)
    if parts:
        return parts, False
    if is_state_dict(obj):                      # a bare (encoder) state dict
        return collections.OrderedDict(encoder=strip_module(obj, "encoder")), True
    for k in ("state_dict", "model"):           # common wrappers
        if k in obj and is_state_dict(obj[k]):
            return collections.OrderedDict(encoder=strip_module(obj[k], "encoder")), True
    keys = ", ".join(sorted(str(k) for k in obj.keys())[:12])
    raise ConvertError("%s: no encoder state dict found (top-level keys: %s)" % (path, keys or "none"))


def block_count(sd, prefix):
    idx = set()
    for name in sd:
        if name.startswith(prefix + "."):
            head = name[len(prefix) + 1:].split(".", 1)[0]
            if head.isdigit():
                idx.add(int(head))
    return max(idx) + 1 if idx else 0


def need(sd, part, name, ndim):
    if name not in sd:
        raise ConvertError("missing tensor '%s.%s'" % (part, name))
    t = sd[name]
    if len(t.shape) != ndim:
        raise ConvertError("tensor '%s.%s' has shape %s, expected %d dimensions"
                           % (part, name, list(t.shape), ndim))
    return t.shape


def infer_config(parts, args):
    """Returns the config dict (metadata keys) from the shapes, checked against the options."""
    enc_part = "target_encoder" if "encoder" not in parts else "encoder"
    enc = parts[enc_part]
    D, C, p, q = need(enc, enc_part, "patch_embed.proj.weight", 4)
    if p != q:
        raise ConvertError("patch_embed.proj.weight %s: non-square patches are not supported"
                           % ([D, C, p, q],))
    _, N, D2 = need(enc, enc_part, "pos_embed", 3)
    if D2 != D:
        raise ConvertError("pos_embed width %d differs from the patch embedding width %d" % (D2, D))
    g = int(math.isqrt(N))
    if g * g != N:
        raise ConvertError("pos_embed has %d positions, not a square grid" % N)
    depth = block_count(enc, "blocks")
    if depth == 0:
        raise ConvertError("missing tensor '%s.blocks.0.norm1.weight'" % enc_part)
    mlp = need(enc, enc_part, "blocks.0.mlp.fc1.weight", 2)[0]
    cfg = collections.OrderedDict(img_size=g * p, channels=C, patch_size=p, embed_dim=D,
                                  depth=depth, num_heads=None, mlp_dim=mlp)
    if "predictor" in parts:
        pr = parts["predictor"]
        Dp, Din = need(pr, "predictor", "predictor_embed.weight", 2)
        if Din != D:
            raise ConvertError("predictor_embed.weight %s: input width %d, encoder width %d"
                               % ([Dp, Din], Din, D))
        pdepth = block_count(pr, "predictor_blocks")
        if pdepth == 0:
            raise ConvertError("missing tensor 'predictor.predictor_blocks.0.norm1.weight'")
        pmlp = need(pr, "predictor", "predictor_blocks.0.mlp.fc1.weight", 2)[0]
    else:
        Dp, pdepth, pmlp = DEFAULT_PRED
        if args.pred_embed_dim:
            Dp, pmlp = args.pred_embed_dim, 4 * args.pred_embed_dim
        if args.pred_depth:
            pdepth = args.pred_depth
    cfg.update(pred_embed_dim=Dp, pred_depth=pdepth, pred_mlp_dim=pmlp)

    # options: checked against the shapes; heads only from options
    heads = args.num_heads
    if args.model:
        pd, pdep, ph, pm = PRESETS[args.model]
        for key, want in (("embed_dim", pd), ("depth", pdep), ("mlp_dim", pm)):
            if cfg[key] != want:
                raise ConvertError("--model %s has %s %d, the checkpoint has %d"
                                   % (args.model, key, want, cfg[key]))
        if heads is None:
            heads = ph
        elif heads != ph:
            raise ConvertError("--num-heads %d contradicts --model %s (%d heads)" % (heads, args.model, ph))
    for opt, key in (("embed_dim", "embed_dim"), ("depth", "depth"), ("patch_size", "patch_size"),
                     ("img_size", "img_size"), ("channels", "channels"),
                     ("pred_embed_dim", "pred_embed_dim"), ("pred_depth", "pred_depth")):
        v = getattr(args, opt)
        if v is not None and v != cfg[key]:
            raise ConvertError("--%s %d does not match the checkpoint (%s %d)"
                               % (opt.replace("_", "-"), v, key, cfg[key]))
    if heads is None:
        raise ConvertError("the number of attention heads cannot be inferred from the weights: "
                           "pass --num-heads H or --model vit_tiny|vit_small|vit_base|vit_large|"
                           "vit_huge|vit_giant")
    cfg["num_heads"] = heads
    if C not in (1, 3):
        raise ConvertError("%d input channels: ijepa supports 1 or 3" % C)
    if D % 4 or D % heads:
        raise ConvertError("embed_dim %d must be a multiple of 4 and of the head count %d" % (D, heads))
    if Dp % 4 or Dp % heads:
        raise ConvertError("pred_embed_dim %d must be a multiple of 4 and of the head count %d"
                           % (Dp, heads))
    if N < 2:
        raise ConvertError("pos_embed has fewer than 2 positions")
    return cfg


def expected_shapes(cfg, part):
    """Ordered name -> shape of one part (SPEC section 6, as src/model/params.c)."""
    D, C, p = cfg["embed_dim"], cfg["channels"], cfg["patch_size"]
    N = (cfg["img_size"] // p) ** 2
    out = collections.OrderedDict()

    def blocks(prefix, depth, w, m):
        for i in range(depth):
            b = "%s.%d." % (prefix, i)
            out.update([(b + "norm1.weight", (w,)), (b + "norm1.bias", (w,)),
                        (b + "attn.qkv.weight", (3 * w, w)), (b + "attn.qkv.bias", (3 * w,)),
                        (b + "attn.proj.weight", (w, w)), (b + "attn.proj.bias", (w,)),
                        (b + "norm2.weight", (w,)), (b + "norm2.bias", (w,)),
                        (b + "mlp.fc1.weight", (m, w)), (b + "mlp.fc1.bias", (m,)),
                        (b + "mlp.fc2.weight", (w, m)), (b + "mlp.fc2.bias", (w,))])

    if part == "predictor":
        Dp = cfg["pred_embed_dim"]
        out["mask_token"] = (1, 1, Dp)
        out["predictor_pos_embed"] = (1, N, Dp)
        out["predictor_embed.weight"] = (Dp, D)
        out["predictor_embed.bias"] = (Dp,)
        blocks("predictor_blocks", cfg["pred_depth"], Dp, cfg["pred_mlp_dim"])
        out["predictor_norm.weight"] = (Dp,)
        out["predictor_norm.bias"] = (Dp,)
        out["predictor_proj.weight"] = (D, Dp)
        out["predictor_proj.bias"] = (D,)
    else:
        out["pos_embed"] = (1, N, D)
        out["patch_embed.proj.weight"] = (D, C, p, p)
        out["patch_embed.proj.bias"] = (D,)
        blocks("blocks", cfg["depth"], D, cfg["mlp_dim"])
        out["norm.weight"] = (D,)
        out["norm.bias"] = (D,)
    return out


def check_part(sd, cfg, part):
    want = expected_shapes(cfg, part)
    for name, shape in want.items():
        if name not in sd:
            raise ConvertError("missing tensor '%s.%s'" % (part, name))
        t = sd[name]
        if t.shape != shape:
            raise ConvertError("tensor '%s.%s' has shape %s, expected %s for this configuration"
                               % (part, name, list(t.shape), list(shape)))
        if not t.is_float:
            raise ConvertError("tensor '%s.%s' has a non-float storage (%s)"
                               % (part, name, t.storage.stype))
    for name in sd:
        if name not in want:
            raise ConvertError("unexpected tensor '%s.%s' (not in the I-JEPA layout)" % (part, name))


# ------------------------------------------------------------------------------------------
# safetensors output
# ------------------------------------------------------------------------------------------
def write_safetensors(path, items, metadata):
    """items: list of (name, LazyTensor); each is converted to float32 while it is written, so
    only one tensor is in memory at a time. Atomic: a temporary file renamed over path."""
    header, off = collections.OrderedDict(), 0
    for name, t in items:
        n = int(np.prod(t.shape, dtype=np.int64)) * 4
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + n]}
        off += n
    header["__metadata__"] = collections.OrderedDict((str(k), str(v)) for k, v in metadata.items())
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(hb)))
            f.write(hb)
            for name, t in items:
                a = t.numpy_f32()
                assert a.dtype == np.dtype("<f4") and a.shape == t.shape, name
                f.write(a.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return 8 + len(hb) + off


def convert(args):
    reader = TorchZipReader(args.input)
    obj = reader.load()
    parts, bare_input = find_parts(obj, args.input)
    cfg = infer_config(parts, args)
    for part, sd in parts.items():
        check_part(sd, cfg, part)

    bare = args.encoder_only or bare_input or "predictor" not in parts
    if bare:
        which = "target_encoder" if args.encoder == "target" else "encoder"
        if which not in parts:
            which = next(p for p in ("encoder", "target_encoder") if p in parts)
        items = [(name, t) for name, t in parts[which].items()]
        what = "bare %s" % which
    else:
        missing = [p for p in PARTS if p not in parts]
        if missing:
            raise ConvertError("%s: no '%s' state dict (use --encoder-only to write one encoder)"
                               % (args.input, missing[0]))
        items = [("%s.%s" % (p, name), t) for p in PARTS for name, t in parts[p].items()]
        what = "encoder + predictor + target_encoder"

    meta = collections.OrderedDict(format="ijepa.c")
    meta.update(cfg)
    meta["source"] = os.path.basename(args.input)
    epoch = obj.get("epoch") if isinstance(obj, dict) else None
    if isinstance(epoch, int) and not isinstance(epoch, bool):
        meta["source_epoch"] = epoch
    if bare:
        meta["source_part"] = which
    nbytes = write_safetensors(args.output, items, meta)
    return ("%s -> %s: %s, %d tensors, %.1f MB float32; img %d, patch %d, channels %d, dim %d, "
            "depth %d, heads %d, mlp %d, predictor %d x %d (mlp %d)%s"
            % (args.input, args.output, what, len(items), nbytes / 1e6, cfg["img_size"],
               cfg["patch_size"], cfg["channels"], cfg["embed_dim"], cfg["depth"],
               cfg["num_heads"], cfg["mlp_dim"], cfg["pred_embed_dim"], cfg["pred_depth"],
               cfg["pred_mlp_dim"], "" if epoch is None else ", epoch %s" % epoch))


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="convert_official.py",
        description="Convert an official I-JEPA checkpoint (.pth.tar, torch >= 1.6 zip format) "
                    "into ijepa.c's safetensors layout. Needs numpy only, not PyTorch.")
    ap.add_argument("input", help="official checkpoint (.pth / .pth.tar)")
    ap.add_argument("output", help="safetensors file to write")
    ap.add_argument("--model", choices=sorted(PRESETS, key=lambda k: PRESETS[k][0]),
                    help="preset: gives the head count, and checks width, depth and MLP width")
    ap.add_argument("--num-heads", type=int, help="attention heads (not visible in the weights)")
    ap.add_argument("--embed-dim", type=int, help="check: encoder width")
    ap.add_argument("--depth", type=int, help="check: encoder depth")
    ap.add_argument("--patch-size", type=int, help="check: patch size")
    ap.add_argument("--img-size", type=int, help="check: image size")
    ap.add_argument("--channels", type=int, help="check: input channels")
    ap.add_argument("--pred-embed-dim", type=int,
                    help="predictor width (checked; recorded when the input has no predictor)")
    ap.add_argument("--pred-depth", type=int,
                    help="predictor depth (checked; recorded when the input has no predictor)")
    ap.add_argument("--encoder-only", action="store_true",
                    help="write one encoder with bare tensor names")
    ap.add_argument("--encoder", choices=("target", "context"), default="target",
                    help="with --encoder-only: which encoder to write (default target, the one the "
                         "paper evaluates)")
    args = ap.parse_args(argv)
    for opt in ("num_heads", "embed_dim", "depth", "patch_size", "img_size", "channels",
                "pred_embed_dim", "pred_depth"):
        v = getattr(args, opt)
        if v is not None and v < 1:
            ap.error("--%s must be positive" % opt.replace("_", "-"))
    try:
        print(convert(args))
    except ConvertError as e:
        print("convert_official: error: %s" % e, file=sys.stderr)
        return 1
    except (OSError, MemoryError) as e:
        print("convert_official: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
