# ComfyUI's VRAM flags as comfy/cli_args.py declares them (Comfy-Org/ComfyUI a125cd84, lines 123-129), parsed by
# Python's own argparse: exits 2 with "argument X: not allowed with argument Y" exactly when ComfyUI would.
# Other flags are let through (parse_known_args), so any ComfyUI command line can be checked.
import argparse
import sys

parser = argparse.ArgumentParser(prog="main.py")
vram_group = parser.add_mutually_exclusive_group()
vram_group.add_argument("--gpu-only", action="store_true", help="Store and run everything (text encoders/CLIP models, etc... on the GPU).")
vram_group.add_argument("--highvram", action="store_true", help="By default models will be unloaded to CPU memory after being used. This option keeps them in GPU memory.")
vram_group.add_argument("--normalvram", action="store_true", help="Used to force normal vram use if lowvram gets automatically enabled.")
vram_group.add_argument("--lowvram", action="store_true", help="Split the unet in parts to use less vram.")
vram_group.add_argument("--novram", action="store_true", help="When lowvram isn't enough.")
vram_group.add_argument("--cpu", action="store_true", help="To use the CPU for everything (slow).")
parser.add_argument("--disable-smart-memory", action="store_true")
parser.add_argument("--reserve-vram", type=float, default=None)

args, _unknown = parser.parse_known_args(sys.argv[1:])
print(" ".join(name for name in ("gpu_only", "highvram", "normalvram", "lowvram", "novram", "cpu") if getattr(args, name)))
