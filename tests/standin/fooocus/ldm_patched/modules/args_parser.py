"""The backend's command-line flags, as Fooocus 2.5.5 declares them.

This module only declares flags: `args` holds their defaults. args_manager adds
Fooocus's own flags and is the one place that parses sys.argv.
"""
from __future__ import annotations

import argparse
import enum


class LatentPreviewMethod(enum.Enum):
    NoPreviews = "none"
    Auto = "auto"
    Latent2RGB = "fast"
    TAESD = "taesd"


SWITCHES = (
    "--in-browser", "--disable-in-browser", "--disable-attention-upcast", "--vae-in-cpu",
    "--disable-ipex-hijack", "--disable-xformers", "--always-offload-from-vram",
    "--pytorch-deterministic", "--disable-server-log", "--debug-mode",
    "--is-windows-embedded-python", "--disable-server-info", "--multi-user",
)

# Each tuple is one group of switches of which at most one may be given.
EXCLUSIVE_SWITCHES = (
    ("--async-cuda-allocation", "--disable-async-cuda-allocation"),
    ("--all-in-fp32", "--all-in-fp16"),
    ("--unet-in-bf16", "--unet-in-fp16", "--unet-in-fp8-e4m3fn", "--unet-in-fp8-e5m2"),
    ("--vae-in-fp16", "--vae-in-fp32", "--vae-in-bf16"),
    ("--clip-in-fp8-e4m3fn", "--clip-in-fp8-e5m2", "--clip-in-fp16", "--clip-in-fp32"),
    ("--attention-split", "--attention-quad", "--attention-pytorch"),
)

VRAM_SWITCHES = (
    "--always-gpu", "--always-high-vram", "--always-normal-vram", "--always-low-vram",
    "--always-no-vram",
)


def add_valued_flags(target: argparse.ArgumentParser) -> None:
    target.add_argument("--listen", type=str, default="127.0.0.1", metavar="IP",
                        nargs="?", const="0.0.0.0")
    target.add_argument("--port", type=int, default=8188)
    target.add_argument("--disable-header-check", type=str, default=None, metavar="ORIGIN",
                        nargs="?", const="*")
    target.add_argument("--web-upload-size", type=float, default=100)
    target.add_argument("--hf-mirror", type=str, default=None)
    target.add_argument("--external-working-path", type=str, default=None, metavar="PATH",
                        nargs="+", action="append")
    target.add_argument("--output-path", type=str, default=None)
    target.add_argument("--temp-path", type=str, default=None)
    target.add_argument("--cache-path", type=str, default=None)
    target.add_argument("--gpu-device-id", type=int, default=None, metavar="DEVICE_ID")
    target.add_argument("--directml", type=int, nargs="?", metavar="DIRECTML_DEVICE", const=-1)
    target.add_argument("--preview-option", type=LatentPreviewMethod,
                        choices=list(LatentPreviewMethod), default=LatentPreviewMethod.NoPreviews)


def add_switches(target: argparse.ArgumentParser) -> None:
    for flag in SWITCHES:
        target.add_argument(flag, action="store_true")

    for group_flags in EXCLUSIVE_SWITCHES:
        group = target.add_mutually_exclusive_group()
        for flag in group_flags:
            group.add_argument(flag, action="store_true")

    vram = target.add_mutually_exclusive_group()
    for flag in VRAM_SWITCHES:
        vram.add_argument(flag, action="store_true")
    vram.add_argument("--always-cpu", type=int, nargs="?", metavar="CPU_NUM_THREADS", const=-1)


parser = argparse.ArgumentParser()
add_valued_flags(parser)
add_switches(parser)

args = parser.parse_args([])

if args.is_windows_embedded_python:
    args.in_browser = True

if args.disable_in_browser:
    args.in_browser = False
