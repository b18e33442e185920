"""Writes the same tiny encoder in the layouts other programs save I-JEPA encoders in, from the
target encoder of tests/fixtures/official_tiny_expected.safetensors (ijepa.c layout):
  tests/fixtures/timm_tiny.safetensors        timm's VisionTransformer state dict (the official names,
                                              no prefix) with a classifier head, as timm saves it;
  tests/fixtures/hf_tiny/model.safetensors    transformers' IJepaModel, names as its
  tests/fixtures/hf_tiny/config.json          convert_ijepa_to_hf.py writes them (q, k, v split).
tests/test_foreign_checkpoints.sh embeds the same images with all three and requires the same
features. numpy and the standard library only:
  /usr/bin/python3 tests/reference/make_foreign_fixtures.py"""
import json, os, re, struct
import numpy as np

root = os.path.join(os.path.dirname(__file__), "..", "fixtures")

def read_st(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n]); h.pop("__metadata__", None)
    return {k: np.frombuffer(raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], dtype="<f4").reshape(v["shape"])
            for k, v in h.items()}

def write_st(path, tensors, meta=None):
    header, off, blobs = {}, 0, []
    for k, v in tensors.items():
        b = np.ascontiguousarray(v, dtype="<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b)
    if meta: header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))

src = read_st(os.path.join(root, "official_tiny_expected.safetensors"))
enc = {k[len("target_encoder."):]: v for k, v in src.items() if k.startswith("target_encoder.")}
D = enc["pos_embed"].shape[2]

timm = dict(enc)
rng = np.random.default_rng(0)
timm["head.weight"] = rng.standard_normal((10, D)).astype(np.float32)
timm["head.bias"] = np.zeros(10, np.float32)
write_st(os.path.join(root, "timm_tiny.safetensors"), timm, {"format": "pt"})

rules = [(r"^pos_embed$", "embeddings.position_embeddings"),
         (r"^patch_embed\.proj\.", "embeddings.patch_embeddings.projection."),
         (r"^blocks\.(\d+)\.norm1\.", r"encoder.layer.\1.layernorm_before."),
         (r"^blocks\.(\d+)\.attn\.proj\.", r"encoder.layer.\1.attention.output.dense."),
         (r"^blocks\.(\d+)\.norm2\.", r"encoder.layer.\1.layernorm_after."),
         (r"^blocks\.(\d+)\.mlp\.fc1\.", r"encoder.layer.\1.intermediate.dense."),
         (r"^blocks\.(\d+)\.mlp\.fc2\.", r"encoder.layer.\1.output.dense."),
         (r"^norm\.", "layernorm.")]
hf = {}
for k, v in enc.items():
    m = re.match(r"^blocks\.(\d+)\.attn\.qkv\.(weight|bias)$", k)
    if m:
        for i, part in enumerate(("query", "key", "value")):
            hf["encoder.layer.%s.attention.attention.%s.%s" % (m.group(1), part, m.group(2))] = v[i * D:(i + 1) * D]
        continue
    name = k
    for pat, rep in rules:
        name = re.sub(pat, rep, name)
    assert name != k, k
    hf[name] = v
os.makedirs(os.path.join(root, "hf_tiny"), exist_ok=True)
write_st(os.path.join(root, "hf_tiny", "model.safetensors"), hf, {"format": "pt"})
depth = len({k.split(".")[1] for k in enc if k.startswith("blocks.")})
config = {"architectures": ["IJepaModel"], "model_type": "ijepa", "hidden_size": D, "num_hidden_layers": depth,
          "num_attention_heads": 2, "intermediate_size": enc["blocks.0.mlp.fc1.weight"].shape[0],
          "image_size": int(round(enc["pos_embed"].shape[1] ** 0.5)) * enc["patch_embed.proj.weight"].shape[2],
          "patch_size": enc["patch_embed.proj.weight"].shape[2], "num_channels": enc["patch_embed.proj.weight"].shape[1],
          "layer_norm_eps": 1e-6, "hidden_act": "gelu"}
json.dump(config, open(os.path.join(root, "hf_tiny", "config.json"), "w"), indent=2)
