"""Fooocus's own flags on top of the backend's; parses sys.argv when imported.

An unknown flag is an argparse error (exit status 2), as in Fooocus.
"""
from __future__ import annotations

import os

import ldm_patched.modules.args_parser as args_parser

SWITCHES = {
    "--share": "Share the UI through a Gradio link.",
    "--disable-preset-selection": "Hide the preset dropdown.",
    "--disable-offload-from-vram": "Keep models in VRAM when unloading could be avoided.",
    "--disable-image-log": "Write no images or logs to the outputs folder.",
    "--disable-analytics": "Turn Gradio analytics off.",
    "--disable-metadata": "Never write generation metadata into images.",
    "--disable-preset-download": "Do not download the models a preset names.",
    "--disable-enhance-output-sorting": "Keep enhanced images in generation order.",
    "--enable-auto-describe-image": "Describe an uploaded image when the prompt is empty.",
    "--always-download-new-model": "Never fall back to an older default model.",
}


def add_fooocus_flags() -> None:
    parser = args_parser.parser
    parser.add_argument("--preset", type=str, default=None, help="Apply this UI preset.")
    parser.add_argument("--language", type=str, default="default",
                        help="Translate the UI with language/<name>.json.")
    parser.add_argument("--theme", type=str, default=None, help="Force the light or dark theme.")
    parser.add_argument("--rebuild-hash-cache", type=int, nargs="?", metavar="CPU_NUM_THREADS",
                        const=-1, help="Compute missing model and LoRA hashes.")
    for flag, help_text in SWITCHES.items():
        parser.add_argument(flag, action="store_true", help=help_text)

    parser.set_defaults(disable_cuda_malloc=True, in_browser=True, port=None)


add_fooocus_flags()
args_parser.args = args_parser.parser.parse_args()

args_parser.args.always_offload_from_vram = not args_parser.args.disable_offload_from_vram

if args_parser.args.disable_analytics:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

if args_parser.args.disable_in_browser:
    args_parser.args.in_browser = False

args = args_parser.args
