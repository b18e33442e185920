"""Writes tests/fixtures/eval_transform.bin: what torchvision + PIL make of three test images (the
formula below, which tests/test_eval_transform.c repeats), as uint8 [16, 16, 3] each:
  1. a 37 x 53 (h x w) image squashed to 16 x 16: Resize((16, 16), BICUBIC);
  2. the same image through timm's eval transform: Resize(int(16 / 0.875) = 18, BICUBIC), CenterCrop(16);
  3. a 9 x 7 image (upscaled) through the same crop transform.
Run with a Python that has torchvision and pillow (outside the repo's CI):
  /root/torchenv/bin/python tests/reference/make_eval_transform_fixture.py"""
import sys
import numpy as np
from PIL import Image
from torchvision import transforms as T

def test_image(h, w):
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    return ((x * 37 + y * 91 + c * 53 + (x * y) % 7 * 19) % 256).astype(np.uint8)

big, small = Image.fromarray(test_image(37, 53)), Image.fromarray(test_image(9, 7))
bicubic = T.InterpolationMode.BICUBIC
crop = T.Compose([T.Resize(18, interpolation=bicubic), T.CenterCrop(16)])
outs = [T.Resize((16, 16), interpolation=bicubic)(big), crop(big), crop(small)]
data = b"".join(np.asarray(o, dtype=np.uint8).tobytes() for o in outs)
assert len(data) == 3 * 16 * 16 * 3
open(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/eval_transform.bin", "wb").write(data)
