#!/usr/bin/python3
"""Small, readable PyTorch reference of I-JEPA as defined in /work/shared/SPEC.md.

Written from the SPEC (sections 1, 2, 3, 5, 6), not copied from the official repository.
Clarity over speed: every sample and every target block is processed as its own sequence,
so masks may be ragged (each sample its own context length, each (target block, sample)
its own target length).

Contents
  sincos_pos_embed_2d(dim, G)        fixed 2-D sin-cos table [G*G, dim] (float64 numpy)
  VisionTransformer                  encoder / target encoder (official state-dict names)
  Predictor                          narrow ViT predictor (official state-dict names)
  compute_targets / ijepa_forward    targets, predictions, losses
  make_optimizer / train_step        one AdamW step + EMA of the target encoder (SPEC 5)
  save_official_checkpoint           torch.save in the official layout ("module." keys)
  load_official_checkpoint           the reverse (strips "module.")
  save_safetensors / load_safetensors  hand-written safetensors I/O (json + struct + numpy)

Run this file directly for the self-checks (pos-embed formula, autograd gradcheck).
"""
import json
import math
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LN_EPS = 1e-6          # LayerNorm in blocks, final encoder norm, predictor_norm
TARGET_LN_EPS = 1e-5   # non-affine LayerNorm applied to the target-encoder output


# ----------------------------------------------------------------------------------------
# Positional embedding (SPEC 1)
# ----------------------------------------------------------------------------------------
def sincos_pos_embed_2d(dim, grid_size):
    """[G*G, dim] float64. Token n = row*G + col. With Q = dim/4, w_k = 10000^(-k/Q):
    dims [0,Q) sin(col*w), [Q,2Q) cos(col*w), [2Q,3Q) sin(row*w), [3Q,4Q) cos(row*w)."""
    assert dim % 4 == 0, "embedding width must be a multiple of 4"
    q = dim // 4
    w = 1.0 / 10000.0 ** (np.arange(q, dtype=np.float64) / q)
    n = np.arange(grid_size * grid_size)
    row = (n // grid_size).astype(np.float64)
    col = (n % grid_size).astype(np.float64)
    a_col = np.outer(col, w)
    a_row = np.outer(row, w)
    return np.concatenate([np.sin(a_col), np.cos(a_col), np.sin(a_row), np.cos(a_row)], axis=1)


def _fixed_pos_param(dim, grid_size):
    # Computed in double, stored as float (the C program stores float32), never trained.
    table = sincos_pos_embed_2d(dim, grid_size).astype(np.float32)
    return nn.Parameter(torch.from_numpy(table).unsqueeze(0), requires_grad=False)


# ----------------------------------------------------------------------------------------
# Transformer pieces (SPEC 1)
# ----------------------------------------------------------------------------------------
class PatchEmbed(nn.Module):
    def __init__(self, patch_size, in_chans, embed_dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):                         # [B, C, H, W] -> [B, N, D], row-major patches
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        assert dim % num_heads == 0
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):                         # x [B, L, dim]
        B, L, dim = x.shape
        h = self.num_heads
        hd = dim // h
        qkv = self.qkv(x)                         # features laid out [q | k | v]
        q, k, v = qkv[..., :dim], qkv[..., dim:2 * dim], qkv[..., 2 * dim:]
        # head j owns features j*hd .. (j+1)*hd-1 of each of q, k, v
        q = q.reshape(B, L, h, hd).transpose(1, 2)   # [B, h, L, hd]
        k = k.reshape(B, L, h, hd).transpose(1, 2)
        v = v.reshape(B, L, h, hd).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-2, -1) * hd ** -0.5, dim=-1)
        out = (att @ v).transpose(1, 2).reshape(B, L, dim)   # heads concatenated
        return self.proj(out)


class MLP(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))      # exact erf GELU


class Block(nn.Module):
    def __init__(self, dim, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        x = x + self.mlp(self.norm2(x))
        return x


# ----------------------------------------------------------------------------------------
# Encoder (SPEC 1)
# ----------------------------------------------------------------------------------------
class VisionTransformer(nn.Module):
    def __init__(self, img_size=16, patch_size=4, in_chans=3, embed_dim=24, depth=2,
                 num_heads=2, mlp_ratio=4.0):
        super().__init__()
        assert img_size % patch_size == 0
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size ** 2
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.pos_embed = _fixed_pos_param(embed_dim, self.grid_size)
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=LN_EPS)

    def _run(self, x):                            # x [B, L, D]
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward(self, images, keep=None):
        """images [B, C, H, W].
        keep None: all N tokens -> tensor [B, N, D].
        keep = list (length B) of 1-D LongTensors (ragged): token indices kept for each sample
        -> list of [K_b, D] tensors, one sequence per sample."""
        x = self.patch_embed(images) + self.pos_embed   # pos added before any token is dropped
        if keep is None:
            return self._run(x)
        assert len(keep) == x.shape[0]
        return [self._run(x[b, idx].unsqueeze(0))[0] for b, idx in enumerate(keep)]


# ----------------------------------------------------------------------------------------
# Predictor (SPEC 2)
# ----------------------------------------------------------------------------------------
class Predictor(nn.Module):
    def __init__(self, num_patches=16, embed_dim=24, predictor_embed_dim=16, depth=2,
                 num_heads=2, mlp_ratio=4.0):
        super().__init__()
        grid = int(round(math.sqrt(num_patches)))
        assert grid * grid == num_patches
        self.predictor_embed = nn.Linear(embed_dim, predictor_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, predictor_embed_dim))
        self.predictor_pos_embed = _fixed_pos_param(predictor_embed_dim, grid)
        self.predictor_blocks = nn.ModuleList(
            [Block(predictor_embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.predictor_norm = nn.LayerNorm(predictor_embed_dim, eps=LN_EPS)
        self.predictor_proj = nn.Linear(predictor_embed_dim, embed_dim)

    def predict_one(self, z, ctx_idx, tgt_idx):
        """One sequence: z [Kc, D] context-encoder output of one sample at positions ctx_idx,
        predict the Kt positions tgt_idx -> [Kt, D]."""
        pos = self.predictor_pos_embed[0]                  # [N, Dp]
        ctx = self.predictor_embed(z) + pos[ctx_idx]
        tgt = self.mask_token[0] + pos[tgt_idx]            # [Kt, Dp]
        x = torch.cat([ctx, tgt], dim=0).unsqueeze(0)      # [1, Kc+Kt, Dp]
        for blk in self.predictor_blocks:
            x = blk(x)
        x = self.predictor_norm(x)[0, ctx.shape[0]:]       # keep the target tokens
        return self.predictor_proj(x)

    def forward(self, z_list, ctx, tgt):
        """z_list: list over samples b of [Kc_b, D]; ctx: list over b of index tensors;
        tgt: list over target blocks i of lists over b of index tensors.
        Returns [T, D], rows in order (i major, then b, then index-list order)."""
        rows = []
        for tgt_i in tgt:
            for b, z in enumerate(z_list):
                rows.append(self.predict_one(z, ctx[b], tgt_i[b]))
        return torch.cat(rows, dim=0)


# ----------------------------------------------------------------------------------------
# Targets, forward, loss (SPEC 3)
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def compute_targets(target_encoder, images, tgt):
    """Target encoder on all N tokens, non-affine LayerNorm (eps 1e-5) over D, then gather
    each (i, b) target block. Returns [T, D] in (i, b, token) order."""
    h = target_encoder(images)                              # [B, N, D]
    h = F.layer_norm(h, (h.shape[-1],), eps=TARGET_LN_EPS)
    return torch.cat([h[b, idx] for tgt_i in tgt for b, idx in enumerate(tgt_i)], dim=0)


def smooth_l1_loss(pred, target):
    return F.smooth_l1_loss(pred, target, reduction="mean", beta=1.0)


def l2_loss(pred, target):
    return ((pred - target) ** 2).mean()


def ijepa_forward(encoder, predictor, target_encoder, images, ctx, tgt):
    """Returns dict: context (list of [Kc_b, D]), target [T, D], pred [T, D],
    loss (smooth L1, default) and loss_l2."""
    target = compute_targets(target_encoder, images, tgt)
    z = encoder(images, ctx)
    pred = predictor(z, ctx, tgt)
    return {"context": z, "target": target, "pred": pred,
            "loss": smooth_l1_loss(pred, target), "loss_l2": l2_loss(pred, target)}


# ----------------------------------------------------------------------------------------
# Optimisation (SPEC 5)
# ----------------------------------------------------------------------------------------
def decays(name, p):
    """Weight decay only on trainable tensors with ndim > 1 whose name has no 'bias'
    (patch conv, qkv/proj/fc1/fc2, predictor_embed/proj weights, mask_token)."""
    return p.requires_grad and p.ndim > 1 and "bias" not in name


def make_optimizer(encoder, predictor, lr, wd):
    named = list(encoder.named_parameters()) + list(predictor.named_parameters())
    decay = [p for n, p in named if decays(n, p)]
    no_decay = [p for n, p in named if p.requires_grad and not decays(n, p)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": wd},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.999), eps=1e-8)


@torch.no_grad()
def ema_update(target_encoder, encoder, m):
    """tgt = m*tgt + (1-m)*enc for every trainable tensor (the fixed pos_embed is identical
    in both and is left untouched)."""
    enc = dict(encoder.named_parameters())
    for n, t in target_encoder.named_parameters():
        if enc[n].requires_grad:
            t.mul_(m).add_((1.0 - m) * enc[n])


def train_step(encoder, predictor, target_encoder, images, ctx, tgt, lr, wd, momentum,
               optimizer=None, loss_name="smooth_l1"):
    """One iteration in the SPEC order: target forward (current target weights); context +
    predictor forward; loss; backward; AdamW step; EMA from the NEW encoder weights.
    Returns (loss value, optimizer)."""
    if optimizer is None:
        optimizer = make_optimizer(encoder, predictor, lr, wd)
    else:
        for g in optimizer.param_groups:
            g["lr"] = lr
            if g["weight_decay"] != 0.0:
                g["weight_decay"] = wd
    out = ijepa_forward(encoder, predictor, target_encoder, images, ctx, tgt)
    loss = out["loss"] if loss_name == "smooth_l1" else out["loss_l2"]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    ema_update(target_encoder, encoder, momentum)
    return loss.detach(), optimizer


# ----------------------------------------------------------------------------------------
# Official checkpoint layout (SPEC 6)
# ----------------------------------------------------------------------------------------
def _module_sd(model):
    return {"module." + k: v.detach().to(torch.float32).cpu().clone()
            for k, v in model.state_dict().items()}


def save_official_checkpoint(path, encoder, predictor, target_encoder, optimizer=None,
                             epoch=1, loss=0.0, batch_size=1, world_size=1, lr=1e-3):
    """torch.save a dict {encoder, predictor, target_encoder, opt, scaler, epoch, loss,
    batch_size, world_size, lr} whose state-dict keys start with 'module.' (float32)."""
    if optimizer is None:
        optimizer = make_optimizer(encoder, predictor, lr, 0.04)
    torch.save({
        "encoder": _module_sd(encoder),
        "predictor": _module_sd(predictor),
        "target_encoder": _module_sd(target_encoder),
        "opt": optimizer.state_dict(),
        "scaler": None,
        "epoch": epoch,
        "loss": float(loss),
        "batch_size": batch_size,
        "world_size": world_size,
        "lr": lr,
    }, path)


def load_official_checkpoint(path):
    """Returns (encoder_sd, predictor_sd, target_encoder_sd) with 'module.' stripped."""
    ck = torch.load(path, map_location="cpu")

    def strip(sd):
        return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in sd.items()}
    return strip(ck["encoder"]), strip(ck["predictor"]), strip(ck["target_encoder"])


# ----------------------------------------------------------------------------------------
# safetensors by hand
# ----------------------------------------------------------------------------------------
_DT = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I32": np.dtype("<i4"),
       "I64": np.dtype("<i8"), "U8": np.dtype("u1")}


def save_safetensors(path, tensors, metadata=None):
    """tensors: ordered dict name -> numpy array (dtype in _DT). Data laid out in the
    given order; header padded with spaces to a multiple of 8."""
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        code = next(c for c, d in _DT.items() if d == a.dtype.newbyteorder("<"))
        raw = np.ascontiguousarray(a, dtype=_DT[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata is not None:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((-len(hb)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for raw in blobs:
            f.write(raw)


def load_safetensors(path):
    """Returns (dict name -> numpy array, metadata dict). Checks that the data offsets tile
    the data section exactly."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = buf[8 + n:]
    out, spans = {}, []
    for name, h in header.items():
        b, e = h["data_offsets"]
        dt = _DT[h["dtype"]]
        count = int(np.prod(h["shape"], dtype=np.int64))
        assert e - b == count * dt.itemsize, name
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(h["shape"]).copy()
        spans.append((b, e))
    spans.sort()
    pos = 0
    for b, e in spans:
        assert b == pos, "hole or overlap in data section"
        pos = e
    assert pos == len(data), "trailing bytes after the last tensor"
    return out, meta


# ----------------------------------------------------------------------------------------
# Self-checks
# ----------------------------------------------------------------------------------------
def _check_pos_embed():
    for dim, G in [(24, 4), (16, 4), (64, 7)]:
        t = sincos_pos_embed_2d(dim, G)
        q = dim // 4
        for n in range(G * G):
            row, col = divmod(n, G)
            for k in range(q):
                w = 10000.0 ** (-k / q)
                exp = [math.sin(col * w), math.cos(col * w), math.sin(row * w), math.cos(row * w)]
                for part in range(4):
                    assert abs(t[n, part * q + k] - exp[part]) < 1e-12, (dim, G, n, k, part)
        # first half encodes the column: tokens in the same column share dims [0, dim/2)
        assert np.array_equal(t[1, :dim // 2], t[1 + G, :dim // 2])
        assert np.array_equal(t[G, dim // 2:], t[G + 1, dim // 2:])
    print("pos_embed: matches the SPEC formula (column in the first half)")


def _check_gradients():
    from torch.nn.utils.stateless import functional_call
    torch.manual_seed(1)
    enc = VisionTransformer(8, 4, 2, 8, 1, 2).double()
    tgt_enc = VisionTransformer(8, 4, 2, 8, 1, 2).double()
    pred = Predictor(4, 8, 8, 1, 2).double()
    with torch.no_grad():
        for m in (enc, tgt_enc, pred):
            for n, p in m.named_parameters():
                if p.requires_grad:
                    p.normal_(0.0, 0.5)
    images = torch.randn(2, 2, 8, 8, dtype=torch.float64)
    ctx = [torch.tensor([0, 2]), torch.tensor([1, 2, 3])]
    tgt = [[torch.tensor([1, 3]), torch.tensor([0])], [torch.tensor([3]), torch.tensor([0])]]
    target = compute_targets(tgt_enc, images, tgt)
    for loss_fn in (smooth_l1_loss, l2_loss):
        for enc_name, pred_name in [("blocks.0.attn.qkv.weight", "mask_token"),
                                    ("patch_embed.proj.weight", "predictor_blocks.0.mlp.fc1.weight"),
                                    ("norm.weight", "predictor_embed.bias")]:
            w_e = dict(enc.named_parameters())[enc_name].detach().clone().requires_grad_(True)
            w_p = dict(pred.named_parameters())[pred_name].detach().clone().requires_grad_(True)

            def f(we, wp):
                z = functional_call(enc, {enc_name: we}, (images, ctx))
                return loss_fn(functional_call(pred, {pred_name: wp}, (z, ctx, tgt)), target)
            assert torch.autograd.gradcheck(f, (w_e, w_p), eps=1e-6, atol=1e-8, rtol=1e-6)
    print("gradcheck: passed (smooth L1 and L2, 6 tensors)")


if __name__ == "__main__":
    _check_pos_embed()
    _check_gradients()
