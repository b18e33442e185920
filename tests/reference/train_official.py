#!/usr/bin/env python3
"""The anchor for a recipe: the official I-JEPA code (facebookresearch/ijepa) trained on the CPU
with the same recipe and wall-clock budget as an `ijepa train` run, so that `ijepa probe` can score
both the same way (through tools/convert_official.py).

  VENV/bin/python tests/reference/train_official.py --official DIR --config runs/c10/config.yaml \\
      --out runs/c10_official --minutes 150 [--threads 2] [--bf16] [--resume]
  python3 tools/convert_official.py runs/c10_official/jepa-latest.pth.tar official.safetensors \\
      --num-heads 3 --img-size 32 --channels 3
  build/ijepa probe --checkpoint official.safetensors --data ... --test-data ...

DIR is a checkout of https://github.com/facebookresearch/ijepa (not part of this repository). From it
come the models (src/models/vision_transformer.py: VisionTransformer and vit_predictor, built as
src/helper.py's init_model builds them, with the recipe's depth), the multi-block mask collator
(src/masks/multiblock.py: the official sampler, whatever `mask.mode` the recipe names), the
transforms (src/transforms.py), the optimiser and schedules (src/helper.py's init_opt) and the
tensor helpers. The loop repeats src/train.py's step, minus what needs CUDA or several processes:
target forward under no_grad with layer_norm on its output, context encoder and predictor, smooth
L1, AdamW step, EMA of the target; with --bf16 the forward passes run under
torch.autocast("cpu", dtype=torch.bfloat16) as `use_bfloat16: true` asks (no GradScaler: bf16 needs
no loss scaling). Images come from the recipe's tar shards of JPEG/PNG (class folders inside).

The checkpoint is written in the official layout ({encoder, predictor, target_encoder, opt, scaler,
epoch, loss, batch_size, world_size, lr}, keys prefixed "module." as DistributedDataParallel saves
them) at every epoch and at the end; log.csv has step, minutes of training, loss and images/s.
--resume continues from jepa-latest.pth.tar at the start of the next epoch, as the official code does.
"""
import argparse
import copy
import csv
import glob
import io
import os
import sys
import tarfile
import time
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--official", required=True, help="checkout of facebookresearch/ijepa")
    p.add_argument("--config", required=True, help="config.yaml of an ijepa run (the recipe)")
    p.add_argument("--out", required=True, help="folder for checkpoints and log.csv")
    p.add_argument("--minutes", type=float, default=0, help="stop after this much training time (0: all epochs)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--bf16", action="store_true", help="autocast to bf16 (default: the recipe's use_bfloat16)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/jepa-latest.pth.tar")
    p.add_argument("--steps", type=int, default=0, help="stop after this many steps (a smoke test)")
    return p.parse_args()


class TarImages(torch.utils.data.Dataset):
    """Every image file in the shards (decoded once into memory, as PIL images)."""

    def __init__(self, pattern, transform):
        from PIL import Image
        self.images, self.transform = [], transform
        for path in sorted(sum((glob.glob(p) for p in pattern.split(",")), [])):
            with tarfile.open(path) as tf:
                for m in tf:
                    if m.isfile() and m.name.lower().endswith((".jpg", ".jpeg", ".png")):
                        img = Image.open(io.BytesIO(tf.extractfile(m).read()))
                        self.images.append(img.convert("RGB"))
        if not self.images:
            sys.exit(f"train_official.py: no images in {pattern}")

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), 0


def main():
    a = parse()
    sys.path.insert(0, os.path.abspath(a.official))
    import src.models.vision_transformer as vit
    from src.helper import init_opt
    from src.masks.multiblock import MaskCollator
    from src.transforms import make_transforms
    from src.utils.tensors import apply_masks, repeat_interleave_batch, trunc_normal_

    cfg = yaml.safe_load(open(a.config))
    d, m, meta, opt, log = cfg["data"], cfg["mask"], cfg["meta"], cfg["optimization"], cfg["logging"]
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(meta.get("seed", 0))
    bf16 = a.bf16 or bool(meta.get("use_bfloat16"))
    os.makedirs(a.out, exist_ok=True)

    # models as init_model builds them, with the recipe's width, depth and heads
    presets = {"vit_tiny": (192, 12, 3), "vit_small": (384, 12, 6), "vit_base": (768, 12, 12)}
    width, depth, heads = presets[meta["model_name"]]
    width, depth, heads = meta.get("embed_dim") or width, meta.get("depth") or depth, meta.get("num_heads") or heads
    norm = partial(nn.LayerNorm, eps=1e-6)
    encoder = vit.VisionTransformer(img_size=[d["crop_size"]], patch_size=m["patch_size"], in_chans=d.get("channels", 3),
                                    embed_dim=width, depth=depth, num_heads=heads, mlp_ratio=4, qkv_bias=True,
                                    norm_layer=norm)
    predictor = vit.vit_predictor(num_patches=encoder.patch_embed.num_patches, embed_dim=width,
                                  predictor_embed_dim=meta["pred_emb_dim"], depth=meta["pred_depth"], num_heads=heads)

    def init_weights(mod):
        if isinstance(mod, nn.Linear):
            trunc_normal_(mod.weight, std=0.02)
            if mod.bias is not None:
                nn.init.constant_(mod.bias, 0)
        elif isinstance(mod, nn.LayerNorm):
            nn.init.constant_(mod.bias, 0)
            nn.init.constant_(mod.weight, 1.0)

    encoder.apply(init_weights)
    predictor.apply(init_weights)
    target = copy.deepcopy(encoder)
    for p in target.parameters():
        p.requires_grad = False

    collator = MaskCollator(input_size=d["crop_size"], patch_size=m["patch_size"], pred_mask_scale=m["pred_mask_scale"],
                            enc_mask_scale=m["enc_mask_scale"], aspect_ratio=m["aspect_ratio"],
                            nenc=m["num_enc_masks"], npred=m["num_pred_masks"], allow_overlap=m["allow_overlap"],
                            min_keep=m["min_keep"])
    transform = make_transforms(crop_size=d["crop_size"], crop_scale=d["crop_scale"],
                                gaussian_blur=d["use_gaussian_blur"], horizontal_flip=d["use_horizontal_flip"],
                                color_distortion=d["use_color_distortion"], color_jitter=d["color_jitter_strength"])
    t0 = time.time()
    data = TarImages(d["dataset"], transform)
    print(f"{len(data)} images from {d['dataset']} in {time.time() - t0:.1f} s", flush=True)
    g = torch.Generator()
    g.manual_seed(meta.get("seed", 0))
    loader = torch.utils.data.DataLoader(data, batch_size=d["batch_size"], shuffle=True, drop_last=True,
                                         collate_fn=collator, num_workers=1, generator=g, persistent_workers=True)
    ipe, epochs = len(loader), opt["epochs"]
    optimizer, _, scheduler, wd_scheduler = init_opt(
        encoder=encoder, predictor=predictor, wd=float(opt["weight_decay"]), final_wd=float(opt["final_weight_decay"]),
        start_lr=opt["start_lr"], ref_lr=opt["lr"], final_lr=opt["final_lr"], iterations_per_epoch=ipe,
        warmup=opt["warmup"], num_epochs=epochs, ipe_scale=opt["ipe_scale"], use_bfloat16=bf16)
    ema = opt["ema"]
    total = int(ipe * epochs * opt["ipe_scale"])
    momentum = (ema[0] + i * (ema[1] - ema[0]) / total for i in range(total + 1))

    latest = os.path.join(a.out, "jepa-latest.pth.tar")
    start_epoch, trained_s, step = 0, 0.0, 0
    if a.resume:
        ck = torch.load(latest, map_location="cpu", weights_only=False)
        strip = lambda sd: {k.removeprefix("module."): v for k, v in sd.items()}
        encoder.load_state_dict(strip(ck["encoder"]))
        predictor.load_state_dict(strip(ck["predictor"]))
        target.load_state_dict(strip(ck["target_encoder"]))
        optimizer.load_state_dict(ck["opt"])
        start_epoch, trained_s = ck["epoch"], ck.get("train_seconds", 0.0)
        for _ in range(start_epoch * ipe):
            scheduler.step(), wd_scheduler.step(), next(momentum), collator.step()
        step = start_epoch * ipe
        print(f"resuming at epoch {start_epoch} (step {step}, {trained_s / 60:.1f} min trained)", flush=True)

    def save(epoch, loss):
        pre = lambda sd: {"module." + k: v for k, v in sd.items()}
        ck = {"encoder": pre(encoder.state_dict()), "predictor": pre(predictor.state_dict()),
              "target_encoder": pre(target.state_dict()), "opt": optimizer.state_dict(), "scaler": None,
              "epoch": epoch, "loss": loss, "batch_size": d["batch_size"], "world_size": 1, "lr": opt["lr"],
              "train_seconds": trained_s, "step": step}
        torch.save(ck, latest + ".tmp")
        os.replace(latest + ".tmp", latest)

    logf = open(os.path.join(a.out, "log.csv"), "a", newline="")
    logw = csv.writer(logf)
    if not a.resume:
        logw.writerow(["step", "epoch", "minutes", "loss", "images_per_s"])
    print(f"official code from {a.official}; {width} wide, {depth} deep, {heads} heads, predictor "
          f"{meta['pred_emb_dim']}x{meta['pred_depth']}; batch {d['batch_size']}, {ipe} steps per epoch, "
          f"{epochs} epochs; bf16 autocast {'on' if bf16 else 'off'}; {torch.get_num_threads()} threads", flush=True)
    done, loss_sum, nlog, window = False, 0.0, 0, time.time()
    for epoch in range(start_epoch, epochs):
        for udata, masks_enc, masks_pred in loader:
            imgs = udata[0]
            t = time.time()
            scheduler.step()
            wd_scheduler.step()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                with torch.no_grad():
                    h = target(imgs)
                    h = F.layer_norm(h, (h.size(-1),))
                    h = apply_masks(h, masks_pred)
                    h = repeat_interleave_batch(h, len(imgs), repeat=len(masks_enc))
                z = predictor(encoder(imgs, masks_enc), masks_enc, masks_pred)
                loss = F.smooth_l1_loss(z, h)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            with torch.no_grad():
                mo = next(momentum)
                for pq, pk in zip(encoder.parameters(), target.parameters()):
                    pk.data.mul_(mo).add_((1.0 - mo) * pq.detach().data)
            trained_s += time.time() - t
            step += 1
            loss_sum += loss.item()
            nlog += 1
            if step % log["log_every"] == 0:
                ips = nlog * d["batch_size"] / (time.time() - window)
                logw.writerow([step, epoch, f"{trained_s / 60:.3f}", f"{loss_sum / nlog:.5f}", f"{ips:.1f}"])
                logf.flush()
                print(f"epoch {epoch + 1} step {step}/{ipe * epochs} loss {loss_sum / nlog:.5f} "
                      f"{ips:.1f} img/s, {trained_s / 60:.1f} min", flush=True)
                loss_sum, nlog, window = 0.0, 0, time.time()
            if (a.minutes and trained_s >= a.minutes * 60) or (a.steps and step >= a.steps):
                done = True
                break
        save(epoch + 1, loss.item())
        if done:
            break
    print(f"stopped at step {step} after {trained_s / 60:.1f} min of training; wrote {latest}", flush=True)


if __name__ == "__main__":
    main()
