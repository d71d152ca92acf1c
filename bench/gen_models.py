#!/usr/bin/python3
"""Export torchvision ResNet-18, ResNet-50 and MobileNetV2 (random weights) to ONNX.

usage: /usr/bin/python3 bench/gen_models.py [OUT_DIR] [--seed N] [--force]

OUT_DIR defaults to bench/models/. Each model is exported with opset 13, a single
input "input" of shape 1x3x224x224 float32 and a single output "output".
Existing files are kept unless --force is given.
"""
import argparse
import os
import sys

import onnx
import torch
import torchvision

MODELS = {
    "resnet18": torchvision.models.resnet18,
    "resnet50": torchvision.models.resnet50,
    "mobilenetv2": torchvision.models.mobilenet_v2,
}


def main():
    default_out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
    ap = argparse.ArgumentParser(usage=__doc__.splitlines()[2][len("usage: "):])
    ap.add_argument("out_dir", nargs="?", default=default_out)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--force", action="store_true", help="overwrite existing files")
    args = ap.parse_args()

    os.makedirs(args.out_dir, exist_ok=True)
    for name, ctor in MODELS.items():
        path = os.path.join(args.out_dir, name + ".onnx")
        if os.path.exists(path) and not args.force:
            print(f"{path}: exists, kept")
            continue
        torch.manual_seed(args.seed)
        model = ctor(weights=None).eval()
        dummy = torch.randn(1, 3, 224, 224)
        with torch.no_grad():
            torch.onnx.export(model, dummy, path, opset_version=13, input_names=["input"],
                              output_names=["output"], do_constant_folding=True)
        onnx.checker.check_model(onnx.load(path))
        print(f"{path}: written ({os.path.getsize(path) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
